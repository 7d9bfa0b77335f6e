package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/watchcache"
)

// Objects the watch cache holds compressed are served exactly as the
// stored bytes they came from: protobuf lists and metadata lists spliced
// from them, single objects, decoded reads, and an update's starting point.
func TestPackedObjectsServeAsStored(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd := newMemStore()
	r := New(etcd, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, Resources(Config{Services: &ServiceStrategy{}}))
	res, _ := r.Resource(schema.GroupResource{Resource: "configmaps"})
	var plain []runtime.Object
	for i := range 40 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm%02d", i), Namespace: "ns",
			UID: "u", Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 0))},
			Data: map[string]string{"config.yaml": fmt.Sprintf("replicas: %d\nimage: web:1.2.3\nport: 8080\n", i)}}
		b, err := r.encode(res, cm)
		if err != nil {
			t.Fatal(err)
		}
		rev := etcd.put(r.Key(res, "ns", cm.Name), b)
		plain = append(plain, &StoredObject{Resource: res, Value: b, Revision: rev})
	}
	c := watchcache.New(watchcache.Config{Store: etcd, Prefix: r.Prefix(res, ""), Attrs: r.attrs(res),
		PackAfter: time.Millisecond, PackMin: 10})
	r.caches = map[*Resource]*watchcache.Cache{res: c}
	go c.Run(ctx)
	// Every object is packed two ticks after the cache listed it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		n := 0
		for i := range plain {
			if o, ok := c.Latest(r.Key(res, "ns", fmt.Sprintf("cm%02d", i))); ok && o.Packed() {
				n++
			}
		}
		if n == len(plain) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d objects packed after 10s", n, len(plain))
		}
	}

	list, err := r.List(ctx, res, "ns", ListOptions{Stored: true})
	if err != nil {
		t.Fatal(err)
	}
	lm := metav1.ListMeta{ResourceVersion: "40"}
	want, ok1 := ProtobufList(res, plain, lm)
	got, ok2 := ProtobufList(res, list.Items, lm)
	if !ok1 || !ok2 || !bytes.Equal(got, want) {
		t.Errorf("protobuf list from packed objects differs from the stored bytes' (%v %v)", ok1, ok2)
	}
	wantMeta, ok1 := ProtobufMetadataList(plain, lm)
	gotMeta, ok2 := ProtobufMetadataList(list.Items, lm)
	if !ok1 || !ok2 || !bytes.Equal(gotMeta, wantMeta) {
		t.Errorf("metadata list from packed objects differs (%v %v)", ok1, ok2)
	}
	one, err := list.Items[7].(*StoredObject).AppendProtobuf(nil)
	wantOne, _ := plain[7].(*StoredObject).AppendProtobuf(nil)
	if err != nil || !bytes.Equal(one, wantOne) {
		t.Errorf("one packed object in protobuf: %v", err)
	}
	dec, err := r.Object(list.Items[7].DeepCopyObject())
	if err != nil || dec.(*corev1.ConfigMap).Data["config.yaml"] != "replicas: 7\nimage: web:1.2.3\nport: 8080\n" {
		t.Errorf("decoded copy of a packed object: %v %v", dec, err)
	}

	// The metrics report them packed, in fewer bytes than they hold.
	ch := make(chan prometheus.Metric, 8)
	r.CacheCollector().Collect(ch)
	close(ch)
	metrics := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		kind := "bytes"
		if strings.Contains(m.Desc().String(), "svcnet_watch_cache_objects") {
			kind = "objects"
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "form" {
				metrics[kind+"/"+l.GetValue()] = pb.GetGauge().GetValue()
			}
		}
	}
	var size int
	for _, so := range plain {
		size += len(so.(*StoredObject).Value)
	}
	if metrics["objects/packed"] != 40 || metrics["objects/plain"] != 0 || metrics["bytes/plain"] != 0 ||
		metrics["bytes/packed"] <= 0 || metrics["bytes/packed"] >= float64(size)/2 {
		t.Errorf("cache metrics %v; want 40 packed objects in under half their %d bytes", metrics, size)
	}

	// An update starts from the packed copy: no read of etcd.
	etcd.gets = 0
	out, err := r.Update(ctx, res, "ns", "cm03", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["extra"] = "1"
		return cur, nil
	}, UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm := out.(*corev1.ConfigMap); cm.Data["extra"] != "1" || cm.Data["config.yaml"] != "replicas: 3\nimage: web:1.2.3\nport: 8080\n" {
		t.Errorf("update from a packed copy gave %v", cm.Data)
	}
	if etcd.gets != 0 {
		t.Errorf("the update read etcd %d times; the packed cached copy should do", etcd.gets)
	}
}
