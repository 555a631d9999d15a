package mongosession

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// maxValueSize keeps one value well below MongoDB's 16 MiB document limit.
const maxValueSize = 8 << 20

// maxKeyBytes bounds a key (top-level or nested): keys travel in every write and, in cookie mode, every cookie.
const maxKeyBytes = 256

// view is the one place where stored data and the request's pending changes meet: what this request sees is
// the stored value with its own change on top.
type view struct {
	stored  map[string]bson.RawValue // nil when there is no stored session
	changes map[string]store.Change
}

// get returns the value this request sees for key.
func (v *view) get(key string) (bson.RawValue, bool) {
	ch, changed := v.changes[key]
	if !changed {
		val, ok := v.stored[key]
		return val, ok
	}
	switch ch.Op {
	case store.OpSet:
		return ch.Value, true
	case store.OpInc:
		sum, err := store.AddInt(v.stored[key], ch.Delta)
		return sum, err == nil
	}
	return bson.RawValue{}, false
}

// all returns every value this request sees (a new map: callers may keep it).
func (v *view) all() map[string]bson.RawValue {
	out := make(map[string]bson.RawValue, len(v.stored)+len(v.changes))
	for k := range v.stored {
		if val, ok := v.get(k); ok {
			out[k] = val
		}
	}
	for k := range v.changes {
		if val, ok := v.get(k); ok {
			out[k] = val
		}
	}
	return out
}

// keys returns the keys this request sees, sorted.
func (v *view) keys() []string {
	return slices.Sorted(maps.Keys(v.all()))
}

func (v *view) change(key string, ch store.Change) {
	if v.changes == nil {
		v.changes = make(map[string]store.Change)
	}
	v.changes[key] = ch
}

// committed makes the pending changes part of the stored data, after a commit stored them.
func (v *view) committed() {
	if len(v.changes) > 0 {
		v.stored = v.all()
	}
	v.changes = nil
}

// sameData reports whether two stored data maps hold the same values.
func sameData(a, b map[string]bson.RawValue) bool {
	return maps.EqualFunc(a, b, func(x, y bson.RawValue) bool { return x.Type == y.Type && bytes.Equal(x.Value, y.Value) })
}

func checkKey(key string) error {
	switch {
	case key == "" || strings.HasPrefix(key, "$") || strings.ContainsAny(key, ".\x00"):
		return fmt.Errorf("%w %q: keys may not be empty, contain '.' or NUL, or start with '$'", ErrInvalidKey, key)
	case len(key) > maxKeyBytes:
		return fmt.Errorf("%w: key of %d bytes is longer than %d", ErrInvalidKey, len(key), maxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w %q: keys must be valid UTF-8", ErrInvalidKey, key)
	}
	return nil
}

// encodeValue encodes v as BSON and checks all of it, nested keys and strings included, so that a value that
// Put accepts is one that every commit (MongoDB, or the sealed cookie) can store.
func encodeValue(key string, v any) (bson.RawValue, error) {
	t, b, err := marshalValue(v)
	if err != nil {
		return bson.RawValue{}, fmt.Errorf("%w: %q cannot be stored as BSON: %v", ErrInvalidValue, key, err)
	}
	if len(b) > maxValueSize {
		return bson.RawValue{}, fmt.Errorf("%w: %q is %d bytes, more than %d", ErrInvalidValue, key, len(b), maxValueSize)
	}
	val := bson.RawValue{Type: t, Value: b}
	if err := checkValue(val, 0); err != nil {
		return bson.RawValue{}, fmt.Errorf("%w: %q: %v", ErrInvalidValue, key, err)
	}
	return val, nil
}

// maxDepth bounds nesting (MongoDB's own limit is 100 levels).
const maxDepth = 64

func checkValue(v bson.RawValue, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested more than %d levels", maxDepth)
	}
	switch v.Type {
	case bson.TypeString:
		if s := v.StringValue(); !utf8.ValidString(s) {
			return fmt.Errorf("a string is not valid UTF-8")
		}
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		doc := bson.Raw(v.Value)
		elems, err := doc.Elements()
		if err != nil {
			return err
		}
		for _, e := range elems {
			if v.Type == bson.TypeEmbeddedDocument {
				if err := checkKey(e.Key()); err != nil {
					return fmt.Errorf("nested %w", err)
				}
			}
			if err := checkValue(e.Value(), depth+1); err != nil {
				return err
			}
		}
	case bson.TypeSymbol, bson.TypeJavaScript, bson.TypeCodeWithScope, bson.TypeDBPointer:
		return fmt.Errorf("BSON type %s is deprecated", v.Type)
	}
	return nil
}

// valueRegistry encodes values as the driver does, except that Go integers other than int32 are stored as
// int64 at any depth: the driver stores int as int32 when it fits (and int8, int16, uint8, uint16 always), so
// Put("n", 42) would come back from Get as an int32. An int32 stays an int32: it was asked for.
// It decodes BSON dates to time.Time (the driver's default for an any is bson.DateTime).
var valueRegistry = func() *bson.Registry {
	reg := bson.NewRegistry()
	asInt64 := bson.ValueEncoderFunc(func(_ bson.EncodeContext, vw bson.ValueWriter, v reflect.Value) error {
		if v.CanInt() {
			return vw.WriteInt64(v.Int())
		}
		if u := v.Uint(); u <= math.MaxInt64 {
			return vw.WriteInt64(int64(u))
		}
		return fmt.Errorf("%d does not fit in an int64", v.Uint())
	})
	for _, k := range []reflect.Kind{reflect.Int, reflect.Int8, reflect.Int16, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64} {
		reg.RegisterKindEncoder(k, asInt64)
	}
	reg.RegisterTypeMapEntry(bson.TypeDateTime, reflect.TypeFor[time.Time]())
	return reg
}()

// marshalValue is bson.MarshalValue with valueRegistry: the value is encoded as the one field of a document.
func marshalValue(v any) (bson.Type, []byte, error) {
	var buf bytes.Buffer
	enc := bson.NewEncoder(bson.NewDocumentWriter(&buf))
	enc.SetRegistry(valueRegistry)
	if err := enc.Encode(bson.D{{Key: "v", Value: v}}); err != nil {
		return 0, nil, err
	}
	val, err := bson.Raw(buf.Bytes()).LookupErr("v")
	if err != nil {
		return 0, nil, err
	}
	return val.Type, val.Value, nil
}

// anyOf decodes v as Get returns it: with valueRegistry, and generic binary data as []byte (the driver's
// default for an any is bson.Binary). The value is decoded as the one field of a document, where the
// decoder's options apply.
func anyOf(v bson.RawValue) (any, error) {
	if out, ok := scalarOf(v); ok {
		return out, nil
	}
	doc, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		return nil, err
	}
	dec := bson.NewDecoder(bson.NewDocumentReader(bytes.NewReader(doc)))
	dec.SetRegistry(valueRegistry)
	dec.BinaryAsSlice()
	var out struct {
		V any `bson:"v"`
	}
	err = dec.Decode(&out)
	return out.V, err
}

// scalarOf decodes the common scalar types as anyOf does, without a decoder.
func scalarOf(v bson.RawValue) (any, bool) {
	switch v.Type {
	case bson.TypeString:
		return v.StringValueOK()
	case bson.TypeInt64:
		return v.Int64OK()
	case bson.TypeInt32:
		return v.Int32OK()
	case bson.TypeDouble:
		return v.DoubleOK()
	case bson.TypeBoolean:
		return v.BooleanOK()
	case bson.TypeDateTime:
		return timeOf(v)
	case bson.TypeNull:
		return nil, true
	}
	return nil, false
}
