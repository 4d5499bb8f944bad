//go:build gatewaybench

package gatewaybench

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/spillway-gw/spillway/xds"
)

// floorServer is the do-nothing ext_proc server: it answers every message
// with CONTINUE and no mutation, and on a 2xx response's headers in the
// router phase asks for the response body in the mode spillway asks for
// (floorModes), so Envoy sends it the same messages it sends spillway. What
// the floor path costs over plain Envoy is the price of ext_proc itself.
type floorServer struct {
	extprocsvc.UnimplementedExternalProcessorServer
}

// serveFloor runs the floor server on addr until the process is stopped.
// It uses the gRPC options spillway serve uses.
func serveFloor(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	g := grpc.NewServer(
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		grpc.InitialWindowSize(1<<20),
		grpc.InitialConnWindowSize(4<<20),
		grpc.MaxRecvMsgSize(8<<20),
	)
	extprocsvc.RegisterExternalProcessorServer(g, floorServer{})
	return g.Serve(ln)
}

func (floorServer) Process(stream extprocsvc.ExternalProcessor_ProcessServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	router := len(md.Get(xds.PhaseMetadataKey)) == 0 || md.Get(xds.PhaseMetadataKey)[0] == xds.PhaseRouter
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || stream.Context().Err() != nil {
				return nil
			}
			return err
		}
		if err := stream.Send(floorReply(req, router)); err != nil {
			return nil
		}
	}
}

func floorReply(req *extprocsvc.ProcessingRequest, router bool) *extprocsvc.ProcessingResponse {
	common := &extprocsvc.CommonResponse{}
	switch r := req.Request.(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvc.HeadersResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_RequestBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{RequestBody: &extprocsvc.BodyResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		resp := &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{Response: common}}}
		if router {
			resp.ModeOverride = floorResponseMode(r.ResponseHeaders.GetHeaders().GetHeaders())
		}
		return resp
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvc.BodyResponse{Response: common}}}
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocsvc.TrailersResponse{}}}
	case *extprocsvc.ProcessingRequest_ResponseTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocsvc.TrailersResponse{}}}
	}
	return &extprocsvc.ProcessingResponse{}
}

// floorResponseMode is the router phase's response body mode for a 2xx, as
// spillway's router phase picks it; nil leaves the configured mode.
func floorResponseMode(h []*corev3.HeaderValue) *extprocv3.ProcessingMode {
	status, ctype := "", ""
	for _, v := range h {
		val := v.Value
		if len(v.RawValue) > 0 {
			val = string(v.RawValue)
		}
		switch v.Key {
		case ":status":
			status = val
		case "content-type":
			ctype = val
		}
	}
	if !strings.HasPrefix(status, "2") {
		return nil
	}
	if strings.HasPrefix(ctype, "text/event-stream") {
		if floorModes.routerSSE == "" {
			return nil
		}
		return &extprocv3.ProcessingMode{ResponseBodyMode: extprocv3.ProcessingMode_BodySendMode(extprocv3.ProcessingMode_BodySendMode_value[floorModes.routerSSE])}
	}
	if floorModes.routerJSON == "" {
		return nil
	}
	return &extprocv3.ProcessingMode{ResponseBodyMode: extprocv3.ProcessingMode_BodySendMode(extprocv3.ProcessingMode_BodySendMode_value[floorModes.routerJSON])}
}
