package e2e

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
)

// TestErrorPaths sends requests that must fail, each with the precise
// Kafka error code, and checks the broker keeps serving.
func TestErrorPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "e"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	corr := int32(0)
	req := func(r kmsg.Request) kmsg.Response {
		corr++
		return c.request(r, corr)
	}
	produce := func(acks int16, batch []byte) int16 {
		return req(produceReq("e", 7, acks, batch)).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	expect := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		if got != want.Code {
			t.Fatalf("%s: error %v, want %s", what, kerr.ErrorForCode(got), want.Message)
		}
	}

	expect("acks=2", produce(2, makeBatch(1, 10, -1, 0)), kerr.InvalidRequiredAcks)
	two := append(makeBatch(1, 10, -1, 0), makeBatch(1, 10, -1, 0)...)
	expect("two batches for one partition", produce(-1, two), kerr.InvalidRecord)
	txn, _ := batchtest.Build(batchtest.Spec{ProducerID: 1, BaseTimestamp: 1, Attributes: recordbatch.AttrTransactional, Records: batchtest.Records(1, 10)})
	expect("transactional batch without a transactional id", produce(-1, txn), kerr.TransactionalIDAuthorizationFailed)
	magic1 := makeBatch(1, 10, -1, 0)
	magic1[16] = 1
	expect("magic 1 batch", produce(-1, magic1), kerr.InvalidRecord)
	expect("unknown producer at sequence 5", produce(-1, makeBatch(1, 10, 999, 5)), kerr.UnknownProducerID)

	// Fetch: an unknown session, leader epochs from the future and the past.
	fr := fetchReq("e", 0, 0, 1, 1<<20, 1<<20)
	fr.SessionID = 77
	expect("unknown fetch session", req(fr).(*kmsg.FetchResponse).ErrorCode, kerr.FetchSessionIDNotFound)
	fr = fetchReq("e", 0, 0, 1, 1<<20, 1<<20)
	fr.Topics[0].Partitions[0].CurrentLeaderEpoch = 5
	expect("future leader epoch", req(fr).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownLeaderEpoch)
	fr = fetchReq("nope", 0, 0, 1, 1<<20, 1<<20)
	expect("fetch of unknown topic", req(fr).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	fr = fetchReq("e", 0, 0, 1, 1<<20, 1<<20)
	fr.Topics[0].Partitions[0].Partition = 9
	expect("fetch of unknown partition", req(fr).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)

	// ListOffsets: max-timestamp is refused per partition; bad timestamps.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "e"
	for _, ts := range []int64{-3, -9} {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp, lp.CurrentLeaderEpoch = ts, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	lps := req(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	expect("ListOffsets max timestamp", lps[0].ErrorCode, kerr.UnsupportedVersion)
	expect("ListOffsets timestamp -9", lps[1].ErrorCode, kerr.InvalidRequest)

	// Configs: broker settings are static; describe only this broker.
	ac := kmsg.NewPtrAlterConfigsRequest()
	ar := kmsg.NewAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
	ac.Resources = append(ac.Resources, ar)
	expect("alter broker config", req(ac).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode, kerr.InvalidRequest)
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	dc.Resources = append(dc.Resources, dr)
	expect("describe another broker", req(dc).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode, kerr.InvalidRequest)
	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ir := kmsg.NewIncrementalAlterConfigsRequestResource()
	ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, "e"
	op := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	op.Name, op.Op, op.Value = "retention.ms", kmsg.IncrementalAlterConfigOpAppend, ptr("5")
	ir.Configs = append(ir.Configs, op)
	ia.Resources = append(ia.Resources, ir)
	expect("APPEND to a non-list config", req(ia).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode, kerr.InvalidConfig)
	ir.Configs[0].Name, ir.Configs[0].Value = "cleanup.policy", ptr("shrink")
	ia.Resources[0] = ir
	expect("APPEND shrink to cleanup.policy", req(ia).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode, kerr.InvalidConfig)

	// Topics: duplicates in one request, unknown ids, controller-only endpoints.
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 5
	for i := 0; i < 2; i++ {
		tt := kmsg.NewCreateTopicsRequestTopic()
		tt.Topic, tt.NumPartitions, tt.ReplicationFactor = "dup", 1, 1
		ct.Topics = append(ct.Topics, tt)
	}
	expect("topic twice in CreateTopics", req(ct).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode, kerr.InvalidRequest)
	ct = kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 5
	tt := kmsg.NewCreateTopicsRequestTopic()
	tt.Topic, tt.NumPartitions, tt.ReplicationFactor = "assigned", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{5}
	tt.ReplicaAssignment = append(tt.ReplicaAssignment, ra)
	ct.Topics = append(ct.Topics, tt)
	expect("assignment to a missing broker", req(ct).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode, kerr.InvalidReplicaAssignment)
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 6
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.TopicID = [16]byte{1, 2, 3}
	dt.Topics = append(dt.Topics, dtt)
	expect("delete unknown topic id", req(dt).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode, kerr.UnknownTopicID)
	cl := kmsg.NewPtrDescribeClusterRequest()
	cl.Version = 1
	cl.EndpointType = 2
	expect("describe controllers", req(cl).(*kmsg.DescribeClusterResponse).ErrorCode, kerr.UnsupportedEndpointType)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 4
	fc.CoordinatorType = 1
	fc.CoordinatorKeys = []string{""}
	expect("empty transactional id", req(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode, kerr.InvalidRequest)
	fc.CoordinatorType = 7
	fc.CoordinatorKeys = []string{"x"}
	expect("unknown coordinator type", req(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode, kerr.InvalidRequest)
	// Transactions: EndTxn of an unknown id, AddPartitionsToTxn with the
	// wrong producer id, TxnOffsetCommit before AddOffsetsToTxn.
	et := kmsg.NewPtrEndTxnRequest()
	et.TransactionalID, et.ProducerID = "never-initialised", 5
	expect("EndTxn of an unknown transactional id", req(et).(*kmsg.EndTxnResponse).ErrorCode, kerr.InvalidProducerIDMapping)
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = ptr("err-txn"), 60000
	ipr := req(ip).(*kmsg.InitProducerIDResponse)
	if ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = "err-txn", ipr.ProducerID+1, ipr.ProducerEpoch
	apt := kmsg.NewAddPartitionsToTxnRequestTopic()
	apt.Topic, apt.Partitions = "e", []int32{0}
	ap.Topics = append(ap.Topics, apt)
	expect("AddPartitionsToTxn with another producer id", req(ap).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode, kerr.InvalidProducerIDMapping)
	ap.ProducerID, ap.Topics[0].Partitions = ipr.ProducerID, []int32{9}
	expect("AddPartitionsToTxn of an unknown partition", req(ap).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch = "err-txn", "g", ipr.ProducerID, ipr.ProducerEpoch
	tct := kmsg.NewTxnOffsetCommitRequestTopic()
	tct.Topic = "e"
	tct.Partitions = append(tct.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
	tc.Topics = append(tc.Topics, tct)
	expect("TxnOffsetCommit before AddOffsetsToTxn", req(tc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.InvalidTxnState)
	stillServes(t, b.addr)
}
