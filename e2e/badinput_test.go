package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
)

// rawConn is a bare Kafka connection for sending hand-made frames.
type rawConn struct {
	t  testing.TB
	nc net.Conn
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc}
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// frame builds a request frame: size, key, version, correlation id, client
// id, a tag buffer when flexible, and the body.
func frame(key, version int16, corr int32, flexible bool, body []byte) []byte {
	b := make([]byte, 4, 64+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if flexible {
		b = append(b, 0)
	}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// request sends req and decodes the response into resp.
func (c *rawConn) request(req kmsg.Request, corr int32) kmsg.Response {
	c.t.Helper()
	c.write(frame(req.Key(), req.GetVersion(), corr, req.IsFlexible(), req.AppendTo(nil)))
	body := c.readFrame()
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		c.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty response header tag buffer
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decoding %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func (c *rawConn) readFrame() []byte {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	return body
}

// expectClosed asserts the broker closes the connection without answering.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.nc.Read(b[:])
	if err == nil {
		c.t.Fatal("broker answered; want the connection closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection still open after 10s; want it closed")
	}
}

// stillServes asserts the broker answers a fresh connection.
func stillServes(t testing.TB, addr string) {
	t.Helper()
	stillServesOn(t, dialRaw(t, addr))
}

func TestBadInput(t *testing.T) {
	b := startStandalone(t, map[string]string{"socketRequestMaxBytes": "1048576", "allowAutoTopicCreation": "false"})

	t.Run("oversized frame", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 1048577)
		c.write(hdr[:])
		c.expectClosed()
	})
	t.Run("negative size", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write([]byte{0xff, 0xff, 0xff, 0xf0})
		c.expectClosed()
	})
	t.Run("truncated frame then close", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		f := frame(18, 0, 1, false, nil)
		c.write(f[:len(f)-3])
		c.nc.(*net.TCPConn).CloseWrite()
		c.expectClosed()
	})
	t.Run("truncated header", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write([]byte{0, 0, 0, 9, 0, 18, 0, 0, 0, 0, 0, 1, 0})
		c.expectClosed()
	})
	t.Run("unknown api key", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write(frame(999, 0, 1, false, nil))
		c.expectClosed()
	})
	t.Run("unimplemented api key", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write(frame(kmsg.DescribeDelegationToken.Int16(), 0, 1, false, make([]byte, 16)))
		c.expectClosed()
	})
	t.Run("unsupported version", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write(frame(0, 1, 1, false, make([]byte, 16))) // Produce v1: below the supported range
		c.expectClosed()
	})
	t.Run("garbage body", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write(frame(3, 1, 1, false, []byte{0x7f, 0xff, 0xff, 0xff})) // Metadata v1 claiming 2^31 topics
		c.expectClosed()
	})
	t.Run("newer ApiVersions gets v0 fallback", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write(frame(18, 99, 42, true, []byte{0, 0, 0}))
		body := c.readFrame()
		if corr := int32(binary.BigEndian.Uint32(body)); corr != 42 {
			t.Fatalf("correlation %d", corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
			t.Fatalf("error %d with %d keys; want UNSUPPORTED_VERSION and the key list", resp.ErrorCode, len(resp.ApiKeys))
		}
	})
	t.Run("pipelined requests answered in order", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		var out []byte
		for i := int32(0); i < 50; i++ {
			req := kmsg.NewPtrMetadataRequest()
			req.Version = 1
			if i%2 == 0 {
				av := kmsg.NewPtrApiVersionsRequest()
				av.Version = 2
				out = append(out, frame(18, 2, i, false, av.AppendTo(nil))...)
				continue
			}
			out = append(out, frame(3, 1, i, false, req.AppendTo(nil))...)
		}
		c.write(out)
		for i := int32(0); i < 50; i++ {
			body := c.readFrame()
			if corr := int32(binary.BigEndian.Uint32(body)); corr != i {
				t.Fatalf("response %d has correlation id %d", i, corr)
			}
		}
	})
	stillServes(t, b.addr)
}

func TestProduceValidation(t *testing.T) {
	b := startStandalone(t, map[string]string{"allowAutoTopicCreation": "false"})
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": ptr("2000")}, "v"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	produce := func(topic string, batch []byte) int16 {
		resp := c.request(produceReq(topic, 7, -1, batch), 1).(*kmsg.ProduceResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	good := makeBatch(3, 10, -1, 0)
	if code := produce("v", good); code != 0 {
		t.Fatalf("valid batch: error %d", code)
	}
	corrupt := makeBatch(3, 10, -1, 0)
	corrupt[len(corrupt)-1] ^= 0xff
	if code := produce("v", corrupt); code != kerr.CorruptMessage.Code {
		t.Fatalf("CRC mismatch: error %d, want CORRUPT_MESSAGE", code)
	}
	if code := produce("v", makeBatch(10, 500, -1, 0)); code != kerr.MessageTooLarge.Code {
		t.Fatalf("oversized batch: error %d, want MESSAGE_TOO_LARGE", code)
	}
	if code := produce("v", good[:40]); code != kerr.CorruptMessage.Code {
		t.Fatalf("truncated batch: error %d, want CORRUPT_MESSAGE", code)
	}
	if code := produce("missing", good); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("missing topic without auto-creation: error %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}
	// Metadata for a missing topic does not create it when auto-creation
	// is off, and an illegal name is refused as such.
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	for _, name := range []string{"missing", "bad/name"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = ptr(name)
		md.Topics = append(md.Topics, mt)
	}
	md.AllowAutoTopicCreation = true
	mresp := c.request(md, 2).(*kmsg.MetadataResponse)
	if got := mresp.Topics[0].ErrorCode; got != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata of missing topic: error %d", got)
	}
	if got := mresp.Topics[1].ErrorCode; got != kerr.InvalidTopicException.Code {
		t.Fatalf("metadata of bad/name: error %d, want INVALID_TOPIC_EXCEPTION", got)
	}
	adm2 := newAdmin(t, b.addr)
	res, err := adm2.CreateTopics(ctx, 1, 1, nil, "bad name", "..", string(make([]byte, 250)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Sorted() {
		if !errors.Is(r.Err, kerr.InvalidTopicException) {
			t.Fatalf("create %q: %v, want INVALID_TOPIC_EXCEPTION", r.Topic, r.Err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// produceReq builds a Produce request of one batch to partition 0.
func produceReq(topic string, version, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// makeBatch encodes a v2 batch of n uncompressed records with values of
// size bytes, with the given producer id (-1 none) and base sequence.
func makeBatch(n, size int, producerID int64, baseSeq int32) []byte {
	spec := batchtest.Spec{BaseTimestamp: time.Now().UnixMilli(), Records: batchtest.Records(n, size)}
	if producerID < 0 {
		spec = spec.NoProducer()
	} else {
		spec.ProducerID, spec.BaseSequence = producerID, baseSeq
	}
	b, err := batchtest.Build(spec)
	if err != nil {
		panic(err)
	}
	return b
}

// TestIdleConnectionsClosed: a connection that sends nothing for
// connectionsMaxIdleMs is closed by the broker.
func TestIdleConnectionsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, map[string]string{"connectionsMaxIdleMs": "1000"})
	c := dialRaw(t, b.addr)
	stillServesOn(t, c)
	c.expectClosed() // within expectClosed's 10 s, long after the 1 s idle limit
}

// stillServesOn checks an open connection answers ApiVersions.
func stillServesOn(t testing.TB, c *rawConn) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	if resp := c.request(req, 1).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
	}
}

// TestConnectionCapsAndSlowSenders: with maxConnectionsPerIp=3 a fourth
// connection is closed as it arrives while the three keep working, and
// /metrics counts it; a sender whose request stops half way is
// disconnected after requestReadTimeoutMs.
func TestConnectionCapsAndSlowSenders(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, map[string]string{"maxConnectionsPerIp": "3", "requestReadTimeoutMs": "500"})
	conns := []*rawConn{dialRaw(t, b.addr), dialRaw(t, b.addr), dialRaw(t, b.addr)}
	for _, c := range conns {
		stillServesOn(t, c)
	}
	dialRaw(t, b.addr).expectClosed()
	for _, c := range conns {
		stillServesOn(t, c)
	}
	if v, err := metric(t, b, "kop_kafka_connections_refused_total"); err != nil || v < 1 {
		t.Fatalf("/metrics does not count the refused connection: kop_kafka_connections_refused_total %d (%v)", v, err)
	}
	// A slow sender, on a free place: 10 bytes of a 1,000-byte request.
	conns[0].nc.Close()
	var slow *rawConn
	deadline := time.Now().Add(30 * time.Second)
	for slow == nil {
		c := dialRaw(t, b.addr)
		req := kmsg.NewPtrApiVersionsRequest()
		_, _ = c.nc.Write(frame(req.Key(), 0, 1, false, nil)) // a refused connection may fail the write
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		if _, err := io.ReadFull(c.nc, size[:]); err == nil {
			slow = c
			c.readFrameBody(binary.BigEndian.Uint32(size[:]))
		} else if time.Now().After(deadline) {
			t.Fatal("no place freed within 30 s after a connection closed")
		}
	}
	slow.write(append([]byte{0, 0, 3, 232}, make([]byte, 10)...))
	slow.expectClosed() // within 10 s, long after the 500 ms limit
	stillServesOn(t, conns[1])
}

func (c *rawConn) readFrameBody(n uint32) {
	c.t.Helper()
	if _, err := io.ReadFull(c.nc, make([]byte, n)); err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
}

// TestCompressionBombRefused: a 100 KiB gzip batch whose records inflate
// to 100 MiB (over maxDecompressedBatchBytes, 64 MiB by default) is
// refused with MESSAGE_TOO_LARGE before anything is stored, and the broker
// goes on serving; a sound gzip batch from a real client is taken.
func TestCompressionBombRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	ctx := testCtx(t, time.Minute)
	if _, err := newAdmin(t, b.addr).CreateTopic(ctx, 1, 1, nil, "bomb"); err != nil {
		t.Fatal(err)
	}
	const inflated = 100 << 20
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(binary.AppendVarint(nil, inflated)) // one record claiming it all
	zeros := make([]byte, 1<<20)
	for i := 0; i < inflated>>20; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	raw := recordbatch.Encode(recordbatch.Fields{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []recordbatch.Record{{Value: []byte("x")}})
	raw = append(raw[:recordbatch.HeaderSize:recordbatch.HeaderSize], zipped.Bytes()...)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint16(raw[21:], uint16(recordbatch.CompressionGzip))
	if err := recordbatch.UpdateCRC(raw); err != nil {
		t.Fatal(err)
	}
	t.Logf("bomb: %d bytes compressed, %d inflated", len(raw), inflated)

	c := dialRaw(t, b.addr)
	p := c.request(produceReq("bomb", 7, -1, raw), 1).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("compression bomb: error %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(p.ErrorCode))
	}
	stillServesOn(t, c)
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.RecordDeliveryTimeout(30*time.Second))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bomb", Value: bytes.Repeat([]byte("a"), 10000)}).FirstErr(); err != nil {
		t.Fatalf("a sound gzip batch: %v", err)
	}
	ends, err := newAdmin(t, b.addr).ListEndOffsets(ctx, "bomb")
	if o, _ := ends.Lookup("bomb", 0); err != nil || o.Offset != 1 {
		t.Fatalf("end offset %+v (%v): the bomb was stored, or the sound batch was not", o, err)
	}
}

// TestDiskFullStorageError: with its data directory on a full file
// system, produce answers KAFKA_STORAGE_ERROR with a message naming the
// partition and the cause; the broker keeps serving, and takes produce
// again by itself once there is room. The data directory is a small
// tmpfs, which needs root (skipped, saying so, without).
func TestDiskFullStorageError(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mounting a tmpfs for the data directory needs root: %v: %s", err, out)
	}
	// Registered first, so it runs after the broker has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	b := startStandalone(t, map[string]string{"dataDir": filepath.Join(dir, "data")})
	ctx := testCtx(t, time.Minute)
	if _, err := newAdmin(t, b.addr).CreateTopic(ctx, 1, 1, nil, "full"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	corr := int32(0)
	produce := func() kmsg.ProduceResponseTopicPartition {
		corr++
		return c.request(produceReq("full", 9, -1, makeBatch(10, 10_000, -1, 0)), corr).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	if p := produce(); p.ErrorCode != 0 {
		t.Fatalf("produce with room: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// Fill the file system.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for small := make([]byte, 4096); ; {
		if _, err := f.Write(small); err != nil {
			break
		}
	}
	f.Close()

	p := produce()
	if p.ErrorCode != kerr.KafkaStorageError.Code || p.ErrorMessage == nil ||
		!strings.Contains(*p.ErrorMessage, "full-0") || !strings.Contains(*p.ErrorMessage, "no space") {
		msg := "<nil>"
		if p.ErrorMessage != nil {
			msg = *p.ErrorMessage
		}
		t.Fatalf("produce on a full disk: %v %q, want KAFKA_STORAGE_ERROR naming the partition and the cause", kerr.ErrorForCode(p.ErrorCode), msg)
	}
	stillServesOn(t, c)
	// A metadata (Raft) write on the full disk fails retriably.
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version, ct.TimeoutMillis = 5, 10_000
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "while-full", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	corr++
	if got := c.request(ct, corr).(*kmsg.CreateTopicsResponse).Topics[0]; got.ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("CreateTopics on a full disk: %v (%v), want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(got.ErrorCode), deref(got.ErrorMessage))
	}
	stillServesOn(t, c)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if p := produce(); p.ErrorCode != 0 {
		t.Fatalf("produce once there is room again: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if res, err := newAdmin(t, b.addr).CreateTopic(ctx, 1, 1, nil, "after-full"); err != nil || res.Err != nil {
		t.Fatalf("CreateTopic once there is room again: %v %v", err, res.Err)
	}
	ends, err := newAdmin(t, b.addr).ListEndOffsets(ctx, "full")
	if o, _ := ends.Lookup("full", 0); err != nil || o.Offset != 20 {
		t.Fatalf("end offset %+v (%v), want the two acknowledged batches' 20 records", o, err)
	}
}

// TestLargeFrameClaimsCostLittle: 2,000 connections each announcing a
// 100 MB request and sending 12 bytes of it cost the broker little memory
// (its resident set stays under 256 MiB, read from /proc): a request's
// buffer grows with the bytes that arrive, not with the size it claims.
// The broker serves other clients meanwhile.
func TestLargeFrameClaimsCostLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalonePlain(t, nil)
	const conns = 2000
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	frame := binary.BigEndian.AppendUint32(nil, 100_000_000)
	frame = append(frame, make([]byte, 12)...)
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		open = append(open, c)
		if _, err := c.Write(frame); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	stillServes(t, b.addr)
	// Every connection is being read (its request under way) before
	// the broker's memory is measured.
	waitMetric(t, b, "kop_kafka_connections", conns)
	rss := residentBytes(t, b.cmd.Process.Pid)
	t.Logf("%d connections announcing 100 MB each: broker RSS %d MiB", conns, rss>>20)
	if rss > 256<<20 {
		t.Fatalf("broker RSS %d MiB with %d half-sent 100 MB requests, want under 256 MiB", rss>>20, conns)
	}
	for _, c := range open {
		c.Close()
	}
	open = nil

	// 200 connections claiming 100 MB, sending 12 bytes and closing, ten
	// times: the broker's memory stays within the same bound (without
	// growing by the claims: ten rounds claim 200 GB).
	round := func() {
		var cs []net.Conn
		for i := 0; i < 200; i++ {
			c, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			cs = append(cs, c)
			if _, err := c.Write(frame); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
		stillServes(t, b.addr)
		for _, c := range cs {
			c.Close()
		}
	}
	round()
	before := residentBytes(t, b.cmd.Process.Pid)
	for i := 0; i < 9; i++ {
		round()
	}
	after := residentBytes(t, b.cmd.Process.Pid)
	t.Logf("RSS after the first claim-and-close round %d MiB, after ten %d MiB", before>>20, after>>20)
	if after > 256<<20 {
		t.Fatalf("RSS grew from %d to %d MiB over nine claim-and-close rounds, want under 256 MiB", before>>20, after>>20)
	}
}

// residentBytes reads a process's resident set size from /proc.
func residentBytes(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB$`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
