// Package grpccodec is the gRPC codec of spillway's server. It decodes the
// ext_proc requests Envoy sends for every request (headers and bodies) with
// a hand-written decoder into the generated types, and marshals
// with the vtprotobuf code go-control-plane generates next to every Envoy
// message (MarshalVTStrict), which needs no reflection: the ext_proc replies
// spillway sends for every message of every request, and the xDS responses.
// That code is compiled only with the build tag vtprotobuf, which the
// Makefile and the Dockerfile set; without it replies go through grpc-go's
// proto codec, as do the messages neither path knows (go-control-plane
// generates no unmarshalling code).
package grpccodec

import (
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// vtMessage is what go-control-plane's *_vtproto.pb.go files give a message.
type vtMessage interface {
	SizeVT() int
	MarshalToSizedBufferVTStrict(dAtA []byte) (int, error)
}

// Generated reports whether the binary holds the generated marshalling code
// (built with -tags vtprotobuf).
func Generated() bool {
	_, ok := any(&extprocsvc.ProcessingResponse{}).(vtMessage)
	return ok
}

// Codec is the codec; use it with grpc.ForceServerCodecV2.
type Codec struct {
	fallback encoding.CodecV2
}

// New returns the codec, falling back to grpc-go's registered proto codec.
func New() *Codec {
	return &Codec{fallback: encoding.GetCodecV2(proto.Name)}
}

// Marshal writes v with its generated code when it has some, into a buffer
// from gRPC's pool when it is large enough to be worth pooling, as grpc-go's
// own codec does.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(vtMessage)
	if !ok {
		return c.fallback.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, size)
		if _, err := m.MarshalToSizedBufferVTStrict(buf); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := m.MarshalToSizedBufferVTStrict((*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal decodes ext_proc requests with decodeProcessingRequest when it
// can, reading a message that arrived in one buffer in place; everything
// else goes to grpc-go's proto codec.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*extprocsvc.ProcessingRequest); ok {
		var decoded bool
		if len(data) == 1 {
			decoded = decodeProcessingRequest(data[0].ReadOnlyData(), m)
		} else {
			buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
			decoded = decodeProcessingRequest(buf.ReadOnlyData(), m)
			buf.Free()
		}
		if decoded {
			return nil
		}
		m.Reset()
	}
	return c.fallback.Unmarshal(data, v)
}

// Name is the content subtype the codec answers for: "proto", as Envoy sends.
func (c *Codec) Name() string { return proto.Name }
