package extproc

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Response headers spillway adds so clients see where a request went.
const (
	HeaderBackend  = "x-spillway-backend"
	HeaderTier     = "x-spillway-tier"
	HeaderAttempts = "x-spillway-attempts"
	headerPrefix   = "x-spillway-"
)

// headers is a read view of an ext_proc header map.
type headers []*corev3.HeaderValue

func (h headers) get(name string) string {
	for _, v := range h {
		if v.Key == name {
			if len(v.RawValue) > 0 {
				return string(v.RawValue)
			}
			return v.Value
		}
	}
	return ""
}

// spillwayKeys lists the x-spillway-* headers present: a client must not be
// able to pass one off as spillway's own.
func (h headers) spillwayKeys() []string {
	var out []string
	for _, v := range h {
		if strings.HasPrefix(v.Key, headerPrefix) {
			out = append(out, v.Key)
		}
	}
	return out
}

// mutation accumulates header changes for one ext_proc reply.
type mutation struct{ m extprocsvc.HeaderMutation }

func (m *mutation) set(key, value string) {
	m.m.SetHeaders = append(m.m.SetHeaders, setHeader(key, value))
}

func setHeader(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, RawValue: []byte(value)},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

func (m *mutation) remove(keys ...string) { m.m.RemoveHeaders = append(m.m.RemoveHeaders, keys...) }

func (m *mutation) get() *extprocsvc.HeaderMutation {
	if len(m.m.SetHeaders) == 0 && len(m.m.RemoveHeaders) == 0 {
		return nil
	}
	return &m.m
}
