package xds

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// accessLogFields are the JSON access log of every client request: Envoy's
// view plus spillway's decision, which the router-phase ext_proc emits as
// dynamic metadata in the spillway namespace.
var accessLogFields = map[string]string{
	"start_time":     "%START_TIME%",
	"request_id":     "%REQ(X-REQUEST-ID)%",
	"method":         "%REQ(:METHOD)%",
	"path":           "%DYNAMIC_METADATA(spillway:path)%",
	"status":         "%RESPONSE_CODE%",
	"response_flags": "%RESPONSE_FLAGS%",
	"details":        "%RESPONSE_CODE_DETAILS%",
	"duration_ms":    "%DURATION%",
	"upstream":       "%UPSTREAM_CLUSTER%",
	"attempts":       "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
	"model":          "%DYNAMIC_METADATA(spillway:model)%",
	"consumer":       "%DYNAMIC_METADATA(spillway:consumer)%",
	"plan":           "%DYNAMIC_METADATA(spillway:hosts)%",
	"cost":           "%DYNAMIC_METADATA(spillway:cost)%",
	"queue_wait_ms":  "%DYNAMIC_METADATA(spillway:queue_wait_ms)%",
	"backend":        "%DYNAMIC_METADATA(spillway:backend)%",
	"tier":           "%DYNAMIC_METADATA(spillway:tier)%",
	// limit: the consumer's rule that refused the request (tpm, rpm,
	// quota); null when none did.
	"limit": "%DYNAMIC_METADATA(spillway:limit)%",
}

func accessLog() *accesslogv3.AccessLog {
	fields := map[string]*structpb.Value{}
	for k, v := range accessLogFields {
		fields[k] = structpb.NewStringValue(v)
	}
	stdout := &streamv3.StdoutAccessLog{
		AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: &structpb.Struct{Fields: fields}},
		}},
	}
	return &accesslogv3.AccessLog{
		Name:       "envoy.access_loggers.stdout",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(stdout)},
	}
}
