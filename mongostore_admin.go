package mongosession

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// StoreStats describes a session collection at one moment (see MongoStore.Stats).
type StoreStats struct {
	// Live counts the sessions that have not expired.
	Live int64
	// WithUser counts the live sessions linked to a user (Session.SetUser).
	WithUser int64
	// Expired counts the sessions that have expired but are still stored: neither the server's TTL monitor
	// (about once a minute) nor the store's purge has removed them yet.
	Expired int64
	// Ages is the spread of the live sessions' ages (now minus creation).
	Ages AgeSpread
}

// AgeSpread is the nearest-rank spread of session ages: the smallest, the median, the 90th percentile and the
// largest. N is how many ages it covers; with N == 0 the durations are zero and mean nothing.
type AgeSpread struct {
	N                     int
	Min, Median, P90, Max time.Duration
}

// Stats counts the live sessions as of now, those linked to a user and the expired ones not yet removed,
// and computes the spread of the live sessions' ages. It is for operators, not for request paths: it reads
// the creation time of every live session (two commands, each of which may scan the collection).
func (s *MongoStore) Stats(ctx context.Context, now time.Time) (StoreStats, error) {
	var st StoreStats
	// Sessions have a creation time; tombstones of renewed sessions do not, and are not counted.
	isSession := bson.E{Key: fieldCreated, Value: bson.D{{Key: "$exists", Value: true}}}
	expired, err := s.coll.CountDocuments(ctx, bson.D{{Key: fieldExpires, Value: bson.D{{Key: "$lte", Value: now}}}, isSession})
	if err != nil {
		return st, fmt.Errorf("mongosession: count expired sessions: %w", err)
	}
	st.Expired = expired

	// One pass over the live sessions counts them, counts those with a user and collects their ages.
	cur, err := s.coll.Find(ctx, bson.D{{Key: fieldExpires, Value: bson.D{{Key: "$gt", Value: now}}}, isSession},
		options.Find().SetProjection(bson.D{{Key: fieldID, Value: 0}, {Key: fieldCreated, Value: 1}, {Key: fieldUser, Value: 1}}))
	if err != nil {
		return st, fmt.Errorf("mongosession: scan live sessions: %w", err)
	}
	defer func() {
		// The scan may have ended with ctx; closing the cursor still deserves a moment.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = cur.Close(cctx)
		cancel()
	}()
	var ages []time.Duration
	for cur.Next(ctx) {
		st.Live++
		if linked(cur.Current.Lookup(fieldUser)) {
			st.WithUser++
		}
		// A document of another shape has no creation time, hence no age.
		if created, ok := cur.Current.Lookup(fieldCreated).TimeOK(); ok && !created.IsZero() {
			ages = append(ages, now.Sub(created))
		}
	}
	if err := cur.Err(); err != nil {
		return st, fmt.Errorf("mongosession: scan live sessions: %w", err)
	}
	st.Ages = spreadOf(ages)
	return st, nil
}

// linked reports whether a stored user field links a session to a user: present and not the empty string.
func linked(user bson.RawValue) bool {
	if user.Type == 0 {
		return false
	}
	s, isString := user.StringValueOK()
	return !isString || s != ""
}

// spreadOf returns the nearest-rank spread of ages, which it sorts.
func spreadOf(ages []time.Duration) AgeSpread {
	if len(ages) == 0 {
		return AgeSpread{}
	}
	slices.Sort(ages)
	// Nearest rank: the smallest value with at least the fraction p of the values at or below it.
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ages))+0.999999999) - 1
		return ages[max(0, min(i, len(ages)-1))]
	}
	return AgeSpread{N: len(ages), Min: ages[0], Median: rank(0.5), P90: rank(0.9), Max: ages[len(ages)-1]}
}
