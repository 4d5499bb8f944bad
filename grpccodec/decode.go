package grpccodec

import (
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"
)

// decodeProcessingRequest decodes the ext_proc messages Envoy sends for
// every request, headers and bodies of both phases, without reflection,
// into the generated types: header keys and values share one allocation,
// raw values another. It returns false for anything else it meets
// (attributes other than strings, non-empty metadata, trailers, an unknown
// or repeated field, a wire type or UTF-8 string proto.Unmarshal would
// reject), for proto.Unmarshal to decode from the start: the result is then
// always the one proto.Unmarshal gives (FuzzDecodeMatchesProto).
func decodeProcessingRequest(b []byte, m *extprocsvc.ProcessingRequest) bool {
	const request = 1<<2 | 1<<3 | 1<<4 | 1<<5 // the oneof's members
	var members uint32
	return eachField(b, 1<<9, func(f field) bool {
		if request&(1<<f.num) != 0 {
			if members |= 1 << f.num; members != 1<<f.num {
				return false // two members of the oneof
			}
		}
		switch {
		case f.is(2, protowire.BytesType), f.is(3, protowire.BytesType):
			h := &extprocsvc.HttpHeaders{}
			if !decodeHttpHeaders(f.bytes, h) {
				return false
			}
			if f.num == 2 {
				m.Request = &extprocsvc.ProcessingRequest_RequestHeaders{RequestHeaders: h}
			} else {
				m.Request = &extprocsvc.ProcessingRequest_ResponseHeaders{ResponseHeaders: h}
			}
		case f.is(4, protowire.BytesType), f.is(5, protowire.BytesType):
			body := &extprocsvc.HttpBody{}
			if !decodeHttpBody(f.bytes, body) {
				return false
			}
			if f.num == 4 {
				m.Request = &extprocsvc.ProcessingRequest_RequestBody{RequestBody: body}
			} else {
				m.Request = &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: body}
			}
		case f.is(8, protowire.BytesType) && len(f.bytes) == 0:
			// Envoy 1.40 sends metadata_context with every message, empty
			// unless metadata is forwarded (spillway forwards none).
			m.MetadataContext = &corev3.Metadata{}
		case f.is(9, protowire.BytesType):
			key, st, ok := decodeAttributesEntry(f.bytes)
			if _, dup := m.Attributes[key]; !ok || dup {
				return false // proto.Unmarshal would merge a repeated key
			}
			if m.Attributes == nil {
				m.Attributes = map[string]*structpb.Struct{}
			}
			m.Attributes[key] = st
		case f.is(10, protowire.VarintType):
			m.ObservabilityMode = protowire.DecodeBool(f.varint)
		case f.is(11, protowire.BytesType):
			pc := &extprocsvc.ProtocolConfiguration{}
			if !decodeProtocolConfig(f.bytes, pc) {
				return false
			}
			m.ProtocolConfig = pc
		default:
			return false
		}
		return true
	})
}

// field is one field of an encoded message: its bytes for the bytes wire
// type, its value for the varint type.
type field struct {
	num    protowire.Number
	typ    protowire.Type
	bytes  []byte
	varint uint64
}

func (f field) is(num protowire.Number, typ protowire.Type) bool { return f.num == num && f.typ == typ }

// eachField calls fn with each field of b in order, and returns false as
// soon as fn does, or when b is malformed, holds a wire type other than
// bytes and varint, a field number above 31, or a field twice that is not
// in repeated (a bit per field number).
func eachField(b []byte, repeated uint32, fn func(field) bool) bool {
	var seen uint32
	for len(b) > 0 {
		f, n := nextField(b)
		if n < 0 || seen&^repeated&(1<<f.num) != 0 || !fn(f) {
			return false
		}
		seen |= 1 << f.num
		b = b[n:]
	}
	return true
}

// nextField reads the first field of b and returns how many bytes it took,
// or -1 (see eachField).
func nextField(b []byte) (field, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > 31 {
		return field{}, -1
	}
	f := field{num: num, typ: typ}
	var m int
	switch typ {
	case protowire.BytesType:
		f.bytes, m = protowire.ConsumeBytes(b[n:])
	case protowire.VarintType:
		f.varint, m = protowire.ConsumeVarint(b[n:])
	default:
		return field{}, -1
	}
	if m < 0 {
		return field{}, -1
	}
	return f, n + m
}

func decodeHttpHeaders(b []byte, h *extprocsvc.HttpHeaders) bool {
	return eachField(b, 0, func(f field) bool {
		switch {
		case f.is(1, protowire.BytesType):
			h.Headers = &corev3.HeaderMap{}
			return decodeHeaderMap(f.bytes, h.Headers)
		case f.is(3, protowire.VarintType):
			h.EndOfStream = protowire.DecodeBool(f.varint)
			return true
		}
		return false
	})
}

// headerValue is a HeaderValue's fields as they are encoded (nil when
// absent).
type headerValue struct{ key, value, raw []byte }

// decodeHeaderMap reads the repeated header values: the first pass checks
// them and sizes the allocations, the second fills them in.
func decodeHeaderMap(b []byte, hm *corev3.HeaderMap) bool {
	var buf [64]headerValue
	hvs := buf[:0]
	text, raw := 0, 0
	for len(b) > 0 {
		f, n := nextField(b)
		if n < 0 || !f.is(1, protowire.BytesType) {
			return false
		}
		b = b[n:]
		hv, ok := decodeHeaderValue(f.bytes)
		if !ok {
			return false
		}
		hvs = append(hvs, hv)
		text += len(hv.key) + len(hv.value)
		raw += len(hv.raw)
	}
	values := make([]corev3.HeaderValue, len(hvs))
	hm.Headers = make([]*corev3.HeaderValue, len(hvs))
	// Keys and values are copied into one string, raw values into one
	// byte slice; each header's fields are slices of them.
	all := make([]byte, 0, text)
	for _, hv := range hvs {
		all = append(append(all, hv.key...), hv.value...)
	}
	s := string(all)
	raws := make([]byte, 0, raw)
	for i, hv := range hvs {
		values[i].Key, s = s[:len(hv.key)], s[len(hv.key):]
		values[i].Value, s = s[:len(hv.value)], s[len(hv.value):]
		if hv.raw != nil {
			start := len(raws)
			raws = append(raws, hv.raw...)
			values[i].RawValue = raws[start:len(raws):len(raws)]
		}
		hm.Headers[i] = &values[i]
	}
	return true
}

func decodeHeaderValue(b []byte) (headerValue, bool) {
	var hv headerValue
	var seen uint8
	for len(b) > 0 {
		f, n := nextField(b)
		if n < 0 || f.typ != protowire.BytesType || f.num < 1 || f.num > 3 || seen&(1<<f.num) != 0 {
			return hv, false
		}
		seen |= 1 << f.num
		b = b[n:]
		switch f.num {
		case 1:
			hv.key = f.bytes
		case 2:
			hv.value = f.bytes
		case 3:
			hv.raw = f.bytes
		}
	}
	return hv, utf8.Valid(hv.key) && utf8.Valid(hv.value)
}

func decodeHttpBody(b []byte, body *extprocsvc.HttpBody) bool {
	return eachField(b, 0, func(f field) bool {
		switch {
		case f.is(1, protowire.BytesType):
			body.Body = append([]byte(nil), f.bytes...)
		case f.is(2, protowire.VarintType):
			body.EndOfStream = protowire.DecodeBool(f.varint)
		case f.is(3, protowire.VarintType):
			body.EndOfStreamWithoutMessage = protowire.DecodeBool(f.varint)
		default:
			return false
		}
		return true
	})
}

func decodeProtocolConfig(b []byte, pc *extprocsvc.ProtocolConfiguration) bool {
	return eachField(b, 0, func(f field) bool {
		switch {
		case f.is(1, protowire.VarintType):
			pc.RequestBodyMode = extprocv3.ProcessingMode_BodySendMode(int32(f.varint))
		case f.is(2, protowire.VarintType):
			pc.ResponseBodyMode = extprocv3.ProcessingMode_BodySendMode(int32(f.varint))
		case f.is(3, protowire.VarintType):
			pc.SendBodyWithoutWaitingForHeaderResponse = protowire.DecodeBool(f.varint)
		default:
			return false
		}
		return true
	})
}

// decodeAttributesEntry reads one entry of the attributes map: a name and a
// Struct whose values are all strings (as spillway's attributes are).
func decodeAttributesEntry(b []byte) (string, *structpb.Struct, bool) {
	var key []byte
	st := &structpb.Struct{}
	ok := eachField(b, 0, func(f field) bool {
		switch {
		case f.is(1, protowire.BytesType):
			key = f.bytes
			return true
		case f.is(2, protowire.BytesType):
			st.Fields = map[string]*structpb.Value{}
			return eachField(f.bytes, 1<<1, func(f field) bool {
				if !f.is(1, protowire.BytesType) {
					return false
				}
				name, value, ok := decodeStringField(f.bytes)
				if _, dup := st.Fields[name]; !ok || dup {
					return false
				}
				st.Fields[name] = structpb.NewStringValue(value)
				return true
			})
		}
		return false
	})
	return string(key), st, ok && utf8.Valid(key)
}

// decodeStringField reads one entry of a Struct's fields whose Value is a
// string_value, and nothing else.
func decodeStringField(b []byte) (name, value string, ok bool) {
	var nameB, valueB []byte
	var hasValue bool
	ok = eachField(b, 0, func(f field) bool {
		switch {
		case f.is(1, protowire.BytesType):
			nameB = f.bytes
			return true
		case f.is(2, protowire.BytesType):
			hasValue = eachField(f.bytes, 0, func(f field) bool {
				valueB = f.bytes
				return f.is(3, protowire.BytesType)
			}) && valueB != nil
			return hasValue
		}
		return false
	})
	if !ok || !hasValue || nameB == nil || !utf8.Valid(nameB) || !utf8.Valid(valueB) {
		return "", "", false
	}
	return string(nameB), string(valueB), true
}
