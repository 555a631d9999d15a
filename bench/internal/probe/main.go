package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mongosession/mongosession/bench"
	"github.com/mongosession/mongosession/devdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("/dev/shm", "probe")
	defer os.RemoveAll(dir)
	srv, err := devdb.Start(ctx, devdb.Config{Dir: dir, Backend: os.Args[1]})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	cl, _ := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	db := cl.Database("p")
	h := make([]byte, 32)
	now := time.Now()
	for _, idx := range []bool{false, true} {
		coll := db.Collection(fmt.Sprintf("c%v", idx))
		if idx {
			coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}}})
		}
		var docs []any
		for i := range 1000 {
			docs = append(docs, bench.NewDoc(fmt.Sprintf("id%020d", i), h, now))
		}
		coll.InsertMany(ctx, docs)
		same := bson.D{{Key: "_id", Value: "id00000000000000000003"}, {Key: "tokens.h", Value: h}, {Key: "expires", Value: bson.D{{Key: "$gt", Value: time.Now()}}}}
		id := bson.D{{Key: "_id", Value: "id00000000000000000003"}}
		small := bson.D{{Key: "$set", Value: bson.D{{Key: "data.w", Value: int64(1)}}}}
		big := bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: int64(1)}}}, {Key: "$set", Value: bson.D{{Key: "data.w", Value: int64(1)}, {Key: "seen", Value: time.Now()}}}}
		run := func(name string, f func()) {
			t := time.Now()
			for range 30 {
				f()
			}
			fmt.Printf("%s index=%v %-28s %v/op\n", os.Args[1], idx, name, time.Since(t)/30)
		}
		run("find same", func() { coll.FindOne(ctx, same).Raw() })
		run("find id", func() { coll.FindOne(ctx, id).Raw() })
		run("update same small", func() { coll.UpdateOne(ctx, same, small) })
		run("update same big", func() { coll.UpdateOne(ctx, same, big) })
		run("update id big", func() { coll.UpdateOne(ctx, id, big) })
		run("bulk same big", func() {
			coll.BulkWrite(ctx, []mongo.WriteModel{mongo.NewUpdateOneModel().SetFilter(same).SetUpdate(big)}, options.BulkWrite().SetOrdered(true))
		})
		run("bulk same small", func() {
			coll.BulkWrite(ctx, []mongo.WriteModel{mongo.NewUpdateOneModel().SetFilter(same).SetUpdate(small)}, options.BulkWrite().SetOrdered(true))
		})
	}
}
