package grpccodec

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	protov2 "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// routerReply is a reply like the router phase's to a request body: header
// mutations, route cache clearing, the hosts list as dynamic metadata, and a
// body mutation.
func routerReply(body []byte) *extprocsvc.ProcessingResponse {
	md, _ := structpb.NewStruct(map[string]any{"spillway": map[string]any{
		"hosts": "envoy://spillway_backend_ptu/,envoy://spillway_backend_tpm/", "cost": 1035.0, "model": "gpt-4o",
	}})
	return &extprocsvc.ProcessingResponse{
		Response: &extprocsvc.ProcessingResponse_RequestBody{RequestBody: &extprocsvc.BodyResponse{Response: &extprocsvc.CommonResponse{
			HeaderMutation: &extprocsvc.HeaderMutation{
				SetHeaders: []*corev3.HeaderValueOption{
					{Header: &corev3.HeaderValue{Key: "x-spillway-model", RawValue: []byte("gpt-4o")}},
					{Header: &corev3.HeaderValue{Key: "x-envoy-max-retries", RawValue: []byte("1")}},
				},
				RemoveHeaders: []string{"api-key"},
			},
			BodyMutation:    &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: body}},
			ClearRouteCache: true,
		}}},
		DynamicMetadata: md,
		ModeOverride:    &extprocv3.ProcessingMode{ResponseBodyMode: extprocv3.ProcessingMode_BUFFERED},
	}
}

func TestMarshalDecodesAsProto(t *testing.T) {
	c := New()
	for name, m := range map[string]protov2.Message{
		"empty":              &extprocsvc.ProcessingResponse{},
		"router reply":       routerReply([]byte(`{"messages":[]}`)),
		"pooled (large)":     routerReply(make([]byte, 64<<10)),
		"no generated code":  &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING},
		"processing request": &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{RequestBody: &extprocsvc.HttpBody{Body: []byte("x"), EndOfStream: true}}},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := c.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got := m.ProtoReflect().New().Interface()
			if err := encoding.GetCodecV2(proto.Name).Unmarshal(data, got); err != nil {
				t.Fatal(err)
			}
			data.Free()
			if !protov2.Equal(got, m) {
				t.Errorf("decoded %v, want %v", got, m)
			}
		})
	}
}

func TestNameIsProto(t *testing.T) {
	// Envoy sends application/grpc (no subtype): the codec must answer for
	// "proto" to be used at all.
	if New().Name() != "proto" {
		t.Fatal(New().Name())
	}
}

// BenchmarkMarshal compares the codec with grpc-go's on a router-phase
// reply carrying a 4 KB body.
func BenchmarkMarshal(b *testing.B) {
	m := routerReply(make([]byte, 4<<10))
	for _, c := range []struct {
		name  string
		codec encoding.CodecV2
	}{{"grpc-proto", encoding.GetCodecV2(proto.Name)}, {"vtcodec", New()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := c.codec.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
			}
		})
	}
}
