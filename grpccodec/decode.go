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
// nearly every request, headers and bodies, without reflection, into the
// generated types: header values share one allocation, their keys another.
// It returns false for anything else it meets (attributes other than
// strings, non-empty metadata,
// trailers, an unknown or repeated field, a wire type or UTF-8 string
// proto.Unmarshal would reject), for proto.Unmarshal to decode from the
// start: the result is then always the one proto.Unmarshal gives (see
// FuzzDecodeMatchesProto).
func decodeProcessingRequest(b []byte, m *extprocsvc.ProcessingRequest) bool {
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > 31 || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		b = b[n:]
		switch {
		case typ == protowire.BytesType && num >= 2 && num <= 5:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			if seen&(0b111100) != 1<<num {
				return false // two members of the oneof
			}
			switch num {
			case 2, 3:
				h := &extprocsvc.HttpHeaders{}
				if !decodeHttpHeaders(v, h) {
					return false
				}
				if num == 2 {
					m.Request = &extprocsvc.ProcessingRequest_RequestHeaders{RequestHeaders: h}
				} else {
					m.Request = &extprocsvc.ProcessingRequest_ResponseHeaders{ResponseHeaders: h}
				}
			case 4, 5:
				body := &extprocsvc.HttpBody{}
				if !decodeHttpBody(v, body) {
					return false
				}
				if num == 4 {
					m.Request = &extprocsvc.ProcessingRequest_RequestBody{RequestBody: body}
				} else {
					m.Request = &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: body}
				}
			}
		case typ == protowire.BytesType && num == 8:
			// Envoy 1.40 sends metadata_context with every message, empty
			// unless metadata is forwarded (spillway forwards none).
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || len(v) != 0 {
				return false
			}
			b = b[n:]
			m.MetadataContext = &corev3.Metadata{}
		case typ == protowire.BytesType && num == 9:
			// attributes: repeated as map entries, so not in seen.
			seen &^= 1 << num
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			key, st, ok := decodeAttributesEntry(v)
			if !ok {
				return false
			}
			if m.Attributes == nil {
				m.Attributes = map[string]*structpb.Struct{}
			} else if _, dup := m.Attributes[key]; dup {
				return false // proto.Unmarshal would merge; rare enough to leave to it
			}
			m.Attributes[key] = st
		case typ == protowire.VarintType && num == 10:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			m.ObservabilityMode = protowire.DecodeBool(v)
		case typ == protowire.BytesType && num == 11:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			pc := &extprocsvc.ProtocolConfiguration{}
			if !decodeProtocolConfig(v, pc) {
				return false
			}
			m.ProtocolConfig = pc
		default:
			return false
		}
	}
	return true
}

func decodeHttpHeaders(b []byte, h *extprocsvc.HttpHeaders) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > 7 || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			hm := &corev3.HeaderMap{}
			if !decodeHeaderMap(v, hm) {
				return false
			}
			h.Headers = hm
		case num == 3 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			h.EndOfStream = protowire.DecodeBool(v)
		default:
			return false
		}
	}
	return true
}

// decodeHeaderMap reads the repeated header values in two passes: the first
// checks them and sizes the allocations, the second fills them in.
func decodeHeaderMap(b []byte, hm *corev3.HeaderMap) bool {
	count, keyBytes, valueBytes := 0, 0, 0
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return false
		}
		v, m := protowire.ConsumeBytes(rest[n:])
		if m < 0 {
			return false
		}
		rest = rest[n+m:]
		k, val, raw, ok := headerValueFields(v)
		if !ok {
			return false
		}
		count++
		keyBytes += len(k) + len(val)
		valueBytes += len(raw)
	}
	values := make([]corev3.HeaderValue, count)
	hm.Headers = make([]*corev3.HeaderValue, count)
	// Keys and values are copied into one string, raw values into one
	// byte slice; each header's fields are slices of them.
	text := make([]byte, 0, keyBytes)
	raws := make([]byte, 0, valueBytes)
	type span struct{ key, value [2]int }
	spans := make([]span, count)
	for i := 0; len(b) > 0; i++ {
		_, _, n := protowire.ConsumeTag(b)
		v, m := protowire.ConsumeBytes(b[n:])
		b = b[n+m:]
		k, val, raw, _ := headerValueFields(v)
		spans[i].key = [2]int{len(text), len(text) + len(k)}
		text = append(text, k...)
		spans[i].value = [2]int{len(text), len(text) + len(val)}
		text = append(text, val...)
		if raw != nil {
			start := len(raws)
			raws = append(raws, raw...)
			values[i].RawValue = raws[start:len(raws):len(raws)]
		}
	}
	all := string(text)
	for i := range values {
		values[i].Key = all[spans[i].key[0]:spans[i].key[1]]
		values[i].Value = all[spans[i].value[0]:spans[i].value[1]]
		hm.Headers[i] = &values[i]
	}
	return true
}

// headerValueFields returns a HeaderValue's fields as they are encoded (nil
// when absent), or false when it holds anything proto.Unmarshal would
// decode differently.
func headerValueFields(b []byte) (key, value, raw []byte, ok bool) {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || num < 1 || num > 3 || seen&(1<<num) != 0 {
			return nil, nil, nil, false
		}
		seen |= 1 << num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil, nil, nil, false
		}
		b = b[n+m:]
		switch num {
		case 1:
			key = v
		case 2:
			value = v
		case 3:
			raw = v
		}
	}
	if !utf8.Valid(key) || !utf8.Valid(value) {
		return nil, nil, nil, false
	}
	return key, value, raw, true
}

func decodeHttpBody(b []byte, body *extprocsvc.HttpBody) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > 7 || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			body.Body = append([]byte(nil), v...)
		case (num == 2 || num == 3) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			if num == 2 {
				body.EndOfStream = protowire.DecodeBool(v)
			} else {
				body.EndOfStreamWithoutMessage = protowire.DecodeBool(v)
			}
		default:
			return false
		}
	}
	return true
}

func decodeProtocolConfig(b []byte, pc *extprocsvc.ProtocolConfiguration) bool {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.VarintType || num < 1 || num > 3 || seen&(1<<num) != 0 {
			return false
		}
		seen |= 1 << num
		v, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
		switch num {
		case 1:
			pc.RequestBodyMode = extprocv3.ProcessingMode_BodySendMode(int32(v))
		case 2:
			pc.ResponseBodyMode = extprocv3.ProcessingMode_BodySendMode(int32(v))
		case 3:
			pc.SendBodyWithoutWaitingForHeaderResponse = protowire.DecodeBool(v)
		}
	}
	return true
}

// decodeAttributesEntry reads one entry of the attributes map: a name and a
// Struct whose values are all strings (as spillway's attributes are);
// anything else is left to proto.Unmarshal.
func decodeAttributesEntry(b []byte) (string, *structpb.Struct, bool) {
	var key []byte
	var st *structpb.Struct
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || num < 1 || num > 2 || seen&(1<<num) != 0 {
			return "", nil, false
		}
		seen |= 1 << num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return "", nil, false
		}
		b = b[n+m:]
		if num == 1 {
			key = v
			continue
		}
		st = &structpb.Struct{Fields: map[string]*structpb.Value{}}
		for len(v) > 0 {
			num, typ, n := protowire.ConsumeTag(v)
			if n < 0 || num != 1 || typ != protowire.BytesType {
				return "", nil, false
			}
			entry, m := protowire.ConsumeBytes(v[n:])
			if m < 0 {
				return "", nil, false
			}
			v = v[n+m:]
			name, value, ok := stringField(entry)
			if !ok {
				return "", nil, false
			}
			if _, dup := st.Fields[name]; dup {
				return "", nil, false
			}
			st.Fields[name] = structpb.NewStringValue(value)
		}
	}
	if !utf8.Valid(key) {
		return "", nil, false
	}
	if st == nil {
		st = &structpb.Struct{}
	}
	return string(key), st, true
}

// stringField reads one entry of a Struct's fields whose Value is a
// string_value.
func stringField(b []byte) (name, value string, ok bool) {
	var nameB, valueB []byte
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || num < 1 || num > 2 || seen&(1<<num) != 0 {
			return "", "", false
		}
		seen |= 1 << num
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return "", "", false
		}
		b = b[n+m:]
		if num == 1 {
			nameB = v
			continue
		}
		// Value: exactly one string_value (field 3).
		tag, t, k := protowire.ConsumeTag(v)
		if k < 0 || tag != 3 || t != protowire.BytesType {
			return "", "", false
		}
		s, l := protowire.ConsumeBytes(v[k:])
		if l < 0 || k+l != len(v) {
			return "", "", false
		}
		valueB = s
	}
	if seen != 0b110 || !utf8.Valid(nameB) || !utf8.Valid(valueB) {
		return "", "", false
	}
	return string(nameB), string(valueB), true
}
