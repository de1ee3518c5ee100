package kafkaapi

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (key 18): the versions of every API this broker implements,
// derived from the api table.
func (s *Server) apiVersionsAPI() api {
	return api{key: 18, min: 0, max: 4, handle: handlerOf(s.handleApiVersions)}
}

func (s *Server) handleApiVersions(_ context.Context, r *request, req *kmsg.ApiVersionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && !validClientSoftware(req.ClientSoftwareName, req.ClientSoftwareVersion) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	resp.ApiKeys = s.apiKeys()
	return resp, nil
}

// apiVersionsFallback answers an ApiVersions request newer than we know:
// a v0 response with UNSUPPORTED_VERSION and the supported ranges.
func (s *Server) apiVersionsFallback() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = s.apiKeys()
	return resp
}

func (s *Server) apiKeys() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range s.apis {
		if a == nil {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

// validClientSoftware applies Kafka's rule for the v3+ client software
// fields: letters, digits, '.', '-' and '_', starting and ending with a
// letter or digit. Empty is accepted (librdkafka sends what it has).
func validClientSoftware(name, version string) bool {
	ok := func(v string) bool {
		if v == "" {
			return true
		}
		for i, c := range v {
			alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
			if !alnum && ((i == 0 || i == len(v)-1) || c != '.' && c != '-' && c != '_') {
				return false
			}
		}
		return true
	}
	return ok(name) && ok(version)
}
