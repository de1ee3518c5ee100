// Command kopbench measures KOP with franz-go: produce and consume
// throughput (MB/s, records/s) and produce latency (p50/p99) for 1 KiB
// records with acks=all, on 1 and 8 partitions, plain and transactional
// (a transaction per 10,000 records, read back read_committed), and offset commits per
// second with 1 and 100 concurrent committers, against a `kop standalone`
// it starts on free loopback ports and stops by process id; then KOP's
// peak resident memory over the run (/proc VmHWM). `make bench` runs it
// and prints the tables.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kop-project/kop/internal/freeport"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	bin := flag.String("kop", "bin/kop", "kop binary")
	records := flag.Int("records", 200_000, "records per run")
	size := flag.Int("size", 1024, "record value size in bytes")
	withDisk := flag.Bool("disk", true, "measure KOP standalone on the embedded log")
	withPulsar := flag.Bool("pulsar", true, "also compare KOP on Pulsar with pulsar-client-go on the same Pulsar")
	pulsarRecords := flag.Int("pulsar-records", 500_000, "records per round of the Pulsar comparison")
	flag.StringVar(&profileDir, "profile", "", "write KOP's CPU profile (over the produce and consume rows) and allocation profile to this directory")
	flag.BoolVar(&javaDefaults, "java-defaults", false, "produce as the Java kafka-clients 2.0 producer does by default: batches of at most 16 KiB, no linger, no idempotence, 5 requests in flight (instead of 1 MiB batches from an idempotent producer)")
	flag.Parse()
	if *withDisk {
		if err := run(*bin, *records, *size); err != nil {
			log.Fatal(err)
		}
	}
	if *withPulsar {
		if err := runPulsar(*bin, *pulsarRecords, *size); err != nil {
			log.Fatal(err)
		}
	}
}

// profileDir, when set, receives KOP's profiles (-profile).
var profileDir string

// javaDefaults makes the plain rows' producer behave as the Java
// producer's defaults do (-java-defaults).
var javaDefaults bool

// txnRecords is how many records one transaction of the transactional
// rows holds.
const txnRecords = 10_000

type result struct {
	name              string
	partitions        int
	txn               bool
	prodMBs, prodRecs float64
	p50, p99          time.Duration
	consMBs, consRecs float64
}

func run(bin string, n, size int) error {
	dir, err := os.MkdirTemp("", "kopbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, httpAddr, stop, pid, err := startKop(bin, dir)
	if err != nil {
		return err
	}
	defer stop()
	cpuDone := startCPUProfile(httpAddr, "embedded", 40*time.Second)

	var results []result
	for _, perTxn := range []int{0, txnRecords} {
		for _, parts := range []int{1, 8} {
			r, err := benchOne(addr, fmt.Sprintf("bench-%d-%d", parts, perTxn), parts, n, size, perTxn)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	producer := "1 MiB batches, idempotent"
	if javaDefaults {
		producer = "Java's defaults: 16 KiB batches, no idempotence, 5 in flight"
	}
	cpuDone()
	saveProfile(httpAddr, "allocs", "allocs-embedded.pprof")
	fmt.Printf("\nKOP standalone (embedded log, fsync per append), franz-go (%s), %d uncompressed records of %d random bytes, acks=all;\ntransactional: a transaction per %d records, consumed read_committed\n\n", producer, n, size, txnRecords)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "producer\tpartitions\tproduce MB/s\tproduce rec/s\tp50 latency\tp99 latency\tconsume MB/s\tconsume rec/s\t")
	for _, r := range results {
		kind := "plain"
		if r.txn {
			kind = "transactional"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%s\t%s\t%.1f\t%.0f\t\n", kind, r.partitions, r.prodMBs, r.prodRecs,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.consMBs, r.consRecs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	var commits []commitResult
	for _, c := range []int{1, 100} {
		r, err := benchCommits(addr, "bench-8-0", c, 10*time.Second)
		if err != nil {
			return err
		}
		commits = append(commits, r)
	}
	fmt.Printf("\nOffset commits (OffsetCommit of 8 partitions each, written through Raft), 10 s per row\n\n")
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrent committers\tcommits/s\tp50 latency\tp99 latency\t")
	for _, r := range commits {
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t\n", r.committers, r.commitsPerS, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\nKOP's peak resident memory over the run (VmHWM): %d MiB\n", peakRSS(pid))
	return nil
}

// benchOne produces n records to a new topic and consumes them; with
// perTxn > 0 the producer is transactional, committing every perTxn
// records, and the consumer reads read_committed.
func benchOne(addr, topic string, parts, n, size, perTxn int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return result{}, err
	}
	defer admCl.Close()
	if _, err := kadm.NewClient(admCl).CreateTopic(ctx, int32(parts), 1, nil, topic); err != nil {
		return result{}, fmt.Errorf("create %s: %w", topic, err)
	}

	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(1 << 20),
		// Uncompressed random values: the bytes measured are the bytes
		// moved and stored.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(20_000)}
	if perTxn > 0 {
		opts = append(opts, kgo.TransactionalID("kopbench-"+topic))
	} else if javaDefaults {
		opts = append(opts, kgo.ProducerBatchMaxBytes(16384), kgo.ProducerLinger(0),
			kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return result{}, err
	}
	endTxn := func() error {
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	value := make([]byte, size)
	rand.Read(value)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var perr error
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < n; i++ {
		if perTxn > 0 && i%perTxn == 0 {
			if i > 0 {
				if err := endTxn(); err != nil {
					return result{}, fmt.Errorf("commit: %w", err)
				}
			}
			if err := cl.BeginTransaction(); err != nil {
				return result{}, fmt.Errorf("begin transaction: %w", err)
			}
		}
		wg.Add(1)
		sent := time.Now()
		i := i
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			lat[i] = time.Since(sent)
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if perTxn > 0 {
		if err := endTxn(); err != nil {
			return result{}, fmt.Errorf("commit: %w", err)
		}
	}
	prodDur := time.Since(start)
	cl.Close()
	if perr != nil {
		return result{}, fmt.Errorf("produce: %w", perr)
	}
	slices.Sort(lat)

	copts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(32 << 20), kgo.FetchMaxPartitionBytes(8 << 20)}
	if perTxn > 0 {
		copts = append(copts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cons, err := kgo.NewClient(copts...)
	if err != nil {
		return result{}, err
	}
	defer cons.Close()
	start = time.Now()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return result{}, fmt.Errorf("consume: %d of %d records", got, n)
		}
		got += fs.NumRecords()
	}
	consDur := time.Since(start)
	mb := float64(n*size) / (1 << 20)
	return result{
		name: topic, partitions: parts, txn: perTxn > 0,
		prodMBs: mb / prodDur.Seconds(), prodRecs: float64(n) / prodDur.Seconds(),
		p50: lat[n/2], p99: lat[n*99/100],
		consMBs: mb / consDur.Seconds(), consRecs: float64(n) / consDur.Seconds(),
	}, nil
}

// startKop runs `kop standalone` on free loopback ports and returns its
// Kafka address and a function stopping it by process id.
// startKop also returns the process id, for its memory figures.
func startKop(bin, dir string, extra ...string) (addr, httpAddr string, stop func(), pid int, err error) {
	var ports [3]int
	for i := range ports {
		p, err := freeport.Take()
		if err != nil {
			return "", "", nil, 0, err
		}
		ports[i] = p
	}
	addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	httpAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	logf, err := os.Create(filepath.Join(dir, "kop.log"))
	if err != nil {
		return "", "", nil, 0, err
	}
	args := append([]string{"standalone",
		"--kafkaListeners=PLAINTEXT://" + addr,
		fmt.Sprintf("--raftBindAddress=127.0.0.1:%d", ports[1]),
		"--httpAddress=" + httpAddr,
		"--dataDir=" + filepath.Join(dir, "data"),
		"--logLevel=warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", "", nil, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, httpAddr, stop, cmd.Process.Pid, nil
			}
		}
	}
	stop()
	return "", "", nil, 0, fmt.Errorf("kop did not become ready; see its log")
}

// peakRSS is a process's peak resident set (VmHWM) in MiB, -1 when
// /proc cannot tell.
func peakRSS(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(status)
	if m == nil {
		return -1
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb >> 10
}

// startCPUProfile, with -profile, takes KOP's CPU profile over the next d
// (or until the rows are done, whichever is later) into
// cpu-<name>.pprof; the function returned waits for it.
func startCPUProfile(httpAddr, name string, d time.Duration) func() {
	if profileDir == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		saveProfile(httpAddr, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), "cpu-"+name+".pprof")
	}()
	return func() { <-done }
}

// saveProfile writes KOP's /debug/pprof/<what> to file in profileDir.
func saveProfile(httpAddr, what, file string) {
	if profileDir == "" {
		return
	}
	if err := os.MkdirAll(profileDir, 0o755); err != nil {
		log.Printf("profile: %v", err)
		return
	}
	c := http.Client{Timeout: 5 * time.Minute}
	resp, err := c.Get("http://" + httpAddr + "/debug/pprof/" + what)
	if err != nil {
		log.Printf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	path := filepath.Join(profileDir, file)
	f, err := os.Create(path)
	if err != nil {
		log.Printf("profile: %v", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		log.Printf("profile %s: %v", what, err)
		return
	}
	fmt.Printf("profile: %s (go tool pprof %s)\n", path, path)
}
