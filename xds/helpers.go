package xds

import (
	"fmt"
	"net"
	"strconv"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	celv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/filters/cel/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway-gw/spillway/azure"
)

var typePercent0 = typev3.Percent{Value: 0}

func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func splitHostPort(hostPort string) (string, uint32, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("port %q is not valid", port)
	}
	return host, uint32(p), nil
}

// upstreamFailureFlags are Envoy's response flags for replies Envoy makes
// itself when no backend answered: they get an Azure-shaped JSON body
// instead of Envoy's plain text, so SDKs parse them like any Azure error.
var upstreamFailureFlags = []string{"UH", "UF", "UO", "NR", "URX", "UT", "UC", "UMSDR"}

// ControlErrorStatus is what the ext_proc filters answer when no spillway
// replica can be reached (status_on_error): 510, a status neither Envoy nor
// spillway otherwise makes, so the local reply config can tell this failure
// from every other and turn it into an Azure-shaped 503.
const ControlErrorStatus = typev3.StatusCode_NotExtended

// controlErrorDetails matches the response code details of the ext_proc
// filters' own failures (ext_proc_error_gRPC_error_14{...},
// ext_proc_error_per-message_timeout_exceeded), never spillway's immediate
// responses (details spillway_<status>).
const controlErrorDetails = "response.code_details.startsWith('ext_proc_error')"

// ControlRetryAfterSeconds is the retry-after of that 503: about the time
// Envoy takes to find a replica back once one serves again.
const ControlRetryAfterSeconds = 1

// localReplyConfig rewrites Envoy's own error replies into Azure's JSON
// error shape:
//   - 413: Envoy answers by itself when a body overflows its buffer before
//     spillway sees it. The body is the same constant spillway sends for a
//     body over the limit, so the two 413s are indistinguishable.
//   - upstream failures and any 5xx: spillway never answers 5xx itself, so
//     these are Envoy's (no backend reachable, every attempt reset...).
func localReplyConfig(bodyLimit int64) *hcmv3.LocalReplyConfig {
	tooLarge := azure.TooLarge(bodyLimit)
	tooLargeBody := &structpb.Struct{Fields: map[string]*structpb.Value{
		"error": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"code":    structpb.NewStringValue(tooLarge.Code),
			"type":    structpb.NewStringValue(tooLarge.Type),
			"message": structpb.NewStringValue(tooLarge.Message),
			"param":   structpb.NewNullValue(),
		}}),
	}}
	body := &structpb.Struct{Fields: map[string]*structpb.Value{
		"error": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"code":    structpb.NewStringValue("%RESPONSE_CODE%"),
			"type":    structpb.NewStringValue("gateway_error"),
			"message": structpb.NewStringValue("%LOCAL_REPLY_BODY% (%RESPONSE_CODE_DETAILS%)"),
		}}),
	}}
	unavailable := azure.GatewayUnavailable(ControlRetryAfterSeconds)
	unavailableBody := &structpb.Struct{Fields: map[string]*structpb.Value{
		"error": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"code":    structpb.NewStringValue(unavailable.Code),
			"type":    structpb.NewStringValue(unavailable.Type),
			"message": structpb.NewStringValue(unavailable.Message),
			"param":   structpb.NewNullValue(),
		}}),
	}}
	retryAfter := strconv.Itoa(ControlRetryAfterSeconds)
	return &hcmv3.LocalReplyConfig{
		Mappers: []*hcmv3.ResponseMapper{{
			// Only the ext_proc filters answer ControlErrorStatus (their
			// status_on_error): no spillway replica could be reached. A
			// replica that does not answer in time is a 504 whose details
			// name ext_proc (Envoy 1.40 does not apply status_on_error to
			// a message timeout). A backend's own status is never a local
			// reply, so never rewritten here.
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{
				OrFilter: &accesslogv3.OrFilter{Filters: []*accesslogv3.AccessLogFilter{
					{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{
						StatusCodeFilter: &accesslogv3.StatusCodeFilter{Comparison: &accesslogv3.ComparisonFilter{
							Op:    accesslogv3.ComparisonFilter_EQ,
							Value: &corev3.RuntimeUInt32{DefaultValue: uint32(ControlErrorStatus), RuntimeKey: "spillway.local_reply.control_error"},
						}},
					}},
					{FilterSpecifier: &accesslogv3.AccessLogFilter_ExtensionFilter{ExtensionFilter: &accesslogv3.ExtensionFilter{
						Name: "envoy.access_loggers.extension_filters.cel",
						ConfigType: &accesslogv3.ExtensionFilter_TypedConfig{TypedConfig: mustAny(&celv3.ExpressionFilter{
							Expression: controlErrorDetails,
						})},
					}}},
				}},
			}},
			StatusCode: wrapperspb.UInt32(uint32(unavailable.Status)),
			HeadersToAdd: []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "retry-after", Value: retryAfter}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
				{Header: &corev3.HeaderValue{Key: "retry-after-ms", Value: retryAfter + "000"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
			},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: unavailableBody},
			},
		}, {
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{
				StatusCodeFilter: &accesslogv3.StatusCodeFilter{Comparison: &accesslogv3.ComparisonFilter{
					Op:    accesslogv3.ComparisonFilter_EQ,
					Value: &corev3.RuntimeUInt32{DefaultValue: 413, RuntimeKey: "spillway.local_reply.too_large"},
				}},
			}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: tooLargeBody},
			},
		}, {
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{
				OrFilter: &accesslogv3.OrFilter{Filters: []*accesslogv3.AccessLogFilter{
					{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{
						ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: upstreamFailureFlags},
					}},
					{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{
						StatusCodeFilter: &accesslogv3.StatusCodeFilter{Comparison: &accesslogv3.ComparisonFilter{
							Op:    accesslogv3.ComparisonFilter_GE,
							Value: &corev3.RuntimeUInt32{DefaultValue: 500, RuntimeKey: "spillway.local_reply.min_status"},
						}},
					}},
				}},
			}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: body},
			},
		}},
	}
}
