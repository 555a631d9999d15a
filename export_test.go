package mongosession

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// SealForTest seals data as m would for a cookie-mode session created and last sealed at the given times,
// so that tests can present expired or otherwise unusual (but authentic) cookies.
func SealForTest(m *Manager, data map[string]any, created, issued time.Time) string {
	p := payload{Created: created, Issued: issued, Data: map[string]bson.RawValue{}}
	for k, v := range data {
		t, b, err := bson.MarshalValue(v)
		if err != nil {
			panic(err)
		}
		p.Data[k] = bson.RawValue{Type: t, Value: b}
	}
	plain, err := encodePayload(p)
	if err != nil {
		panic(err)
	}
	return SealRawForTest(m, plain)
}

// SealRawForTest seals arbitrary bytes with m's current key and cookie name.
func SealRawForTest(m *Manager, plain []byte) string { return m.sealer.seal(m.sealAD, plain) }
