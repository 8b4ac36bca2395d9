package marketstandin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// The two wire protocols' bodies, decoded to and encoded from one neutral form: objects as
// map[string]any, lists as []any, numbers as float64, timestamps as float64 epoch seconds on
// the way in and time.Time on the way out. AWS JSON 1.1 writes a timestamp as epoch seconds;
// RPC v2 CBOR as tag 1 around them.
//
// The CBOR codec is smithy-go's (the one the SDK client itself uses). Its package says its API
// is for the SDK's runtime and may change: a smithy-go upgrade that changes it breaks this
// file's build, which is where it should show.

func decodeJSON(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

func decodeCBOR(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	out, err := fromCBOR(v)
	if err != nil {
		return nil, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, errors.New("not a CBOR map")
	}
	return m, nil
}

// fromCBOR is v in the neutral form.
func fromCBOR(v cbor.Value) (any, error) {
	switch t := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(t))
		for k, e := range t {
			x, err := fromCBOR(e)
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		return m, nil
	case cbor.List:
		l := make([]any, len(t))
		for i, e := range t {
			x, err := fromCBOR(e)
			if err != nil {
				return nil, err
			}
			l[i] = x
		}
		return l, nil
	case cbor.String:
		return string(t), nil
	case cbor.Uint:
		return float64(t), nil
	case cbor.NegInt:
		return -1 - float64(t), nil
	case cbor.Float32:
		return float64(t), nil
	case cbor.Float64:
		return float64(t), nil
	case cbor.Bool:
		return bool(t), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case *cbor.Tag:
		if t.ID != 1 {
			return nil, fmt.Errorf("CBOR tag %d", t.ID)
		}
		return fromCBOR(t.Value)
	case cbor.Slice:
		return []byte(t), nil
	}
	return nil, fmt.Errorf("CBOR value %T", v)
}

// toCBOR is the neutral form v as CBOR: whole numbers as integers, times as tag 1.
func toCBOR(v any) cbor.Value {
	switch t := v.(type) {
	case map[string]any:
		m := make(cbor.Map, len(t))
		for k, e := range t {
			m[k] = toCBOR(e)
		}
		return m
	case []any:
		l := make(cbor.List, len(t))
		for i, e := range t {
			l[i] = toCBOR(e)
		}
		return l
	case string:
		return cbor.String(t)
	case bool:
		return cbor.Bool(t)
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			if t >= 0 {
				return cbor.Uint(t)
			}
			return cbor.NegInt(-1 - t)
		}
		return cbor.Float64(t)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1000)}
	case nil:
		return &cbor.Nil{}
	}
	panic(fmt.Sprintf("marketstandin: no CBOR for %T", v))
}

// toJSON is the neutral form v with times as epoch seconds.
func toJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = toJSON(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = toJSON(e)
		}
		return l
	case time.Time:
		return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
	}
	return v
}

// writeResponse writes body in proto with status.
func writeResponse(w http.ResponseWriter, proto string, status int, body map[string]any) {
	var b []byte
	if proto == ProtocolCBOR {
		b = cbor.Encode(toCBOR(body))
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	} else {
		b, _ = json.Marshal(toJSON(body))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
