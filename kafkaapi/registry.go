package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxKey bounds the api table; keys above it are unknown.
const maxKey = 100

// api is one implemented Kafka API: its key, the versions served, and the
// handler. Each NN_name.go file builds its own api value; registry lists
// them, and ApiVersions is derived from the same list, so what is
// advertised is what is implemented.
type api struct {
	key      int16
	min, max int16
	// blocking APIs wait for other clients or new data (Fetch's long
	// poll, a rebalance): they get the connection's context instead of
	// the request timeout.
	blocking bool
	// pipelined APIs may complete their response after the connection
	// has gone on to the next request (request.finish): Produce, whose
	// appends are started in order and stored in flight together. Any
	// other request waits until the pipelined ones before it completed.
	pipelined bool
	handle    func(ctx context.Context, r *request, req kmsg.Request) (kmsg.Response, error)
}

func (s *Server) registry() []api {
	return []api{
		s.produceAPI(),                      // 0
		s.fetchAPI(),                        // 1
		s.listOffsetsAPI(),                  // 2
		s.metadataAPI(),                     // 3
		s.offsetCommitAPI(),                 // 8
		s.offsetFetchAPI(),                  // 9
		s.findCoordinatorAPI(),              // 10
		s.joinGroupAPI(),                    // 11
		s.heartbeatAPI(),                    // 12
		s.leaveGroupAPI(),                   // 13
		s.syncGroupAPI(),                    // 14
		s.describeGroupsAPI(),               // 15
		s.listGroupsAPI(),                   // 16
		s.saslHandshakeAPI(),                // 17
		s.apiVersionsAPI(),                  // 18
		s.createTopicsAPI(),                 // 19
		s.deleteTopicsAPI(),                 // 20
		s.deleteRecordsAPI(),                // 21
		s.initProducerIDAPI(),               // 22
		s.offsetForLeaderEpochAPI(),         // 23
		s.addPartitionsToTxnAPI(),           // 24
		s.addOffsetsToTxnAPI(),              // 25
		s.endTxnAPI(),                       // 26
		s.writeTxnMarkersAPI(),              // 27
		s.txnOffsetCommitAPI(),              // 28
		s.describeAclsAPI(),                 // 29
		s.createAclsAPI(),                   // 30
		s.deleteAclsAPI(),                   // 31
		s.describeConfigsAPI(),              // 32
		s.alterConfigsAPI(),                 // 33
		s.saslAuthenticateAPI(),             // 36
		s.createPartitionsAPI(),             // 37
		s.deleteGroupsAPI(),                 // 42
		s.incrementalAlterConfigsAPI(),      // 44
		s.offsetDeleteAPI(),                 // 47
		s.describeUserScramCredentialsAPI(), // 50
		s.alterUserScramCredentialsAPI(),    // 51
		s.describeClusterAPI(),              // 60
		s.describeProducersAPI(),            // 61
		s.describeTransactionsAPI(),         // 65
		s.listTransactionsAPI(),             // 66
	}
}

func (s *Server) lookup(key int16) *api {
	if key < 0 || int(key) >= len(s.apis) {
		return nil
	}
	return s.apis[key]
}

// handlerOf adapts a typed handler to the api table.
func handlerOf[Req kmsg.Request](f func(ctx context.Context, r *request, req Req) (kmsg.Response, error)) func(context.Context, *request, kmsg.Request) (kmsg.Response, error) {
	return func(ctx context.Context, r *request, req kmsg.Request) (kmsg.Response, error) {
		return f(ctx, r, req.(Req))
	}
}
