//go:build ceph

package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	goceph "github.com/ceph/go-ceph/rados"

	"github.com/stowage/stowage/internal/rados"
	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/store/sqlstore"
)

// testPool is the test cluster's objects pool (scripts/test-ceph.sh).
const testPool = "stowage-objects"

// radosBodies is a RADOS store on the cluster $TEST_CEPH_CONF names, as
// the restricted client.stowage user, in namespace ns (a new one when ""),
// recording its intents in st; nil without a cluster.
func radosBodies(t testing.TB, st *sqlstore.Store, ns string) (s3.Blobs, bodyPool) {
	conf := os.Getenv("TEST_CEPH_CONF")
	if conf == "" {
		return nil, nil
	}
	if ns == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		ns = "t-" + hex.EncodeToString(b)
	}
	p := &radosPool{conf: conf, ns: ns}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := rados.Open(ctx, rados.Options{Conf: conf, User: "client.stowage", Pool: testPool, Namespace: p.ns, Intents: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.store = s
	return s, p
}

// radosPool lists one namespace with a connection of its own: the store
// itself never lists (finding garbage must not need it); tests may.
type radosPool struct {
	conf, ns string
	store    *rados.Store
}

// each calls f with every object of the namespace, and its bytes when
// read is set.
func (p *radosPool) each(t testing.TB, read bool, f func(name string, data []byte)) {
	t.Helper()
	conn, err := goceph.NewConnWithUser("stowage")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Shutdown()
	if err := conn.ReadConfigFile(p.conf); err != nil {
		t.Fatal(err)
	}
	if err := conn.Connect(); err != nil {
		t.Fatal(err)
	}
	io, err := conn.OpenIOContext(testPool)
	if err != nil {
		t.Fatal(err)
	}
	defer io.Destroy()
	io.SetNamespace(p.ns)
	it, err := io.Iter()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.Next() {
		var data []byte
		if read {
			data = make([]byte, rados.StripeSize)
			k, err := io.Read(it.Value(), data, 0)
			if err != nil {
				t.Fatal(err)
			}
			data = data[:k]
		}
		f(it.Value(), data)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
}

func (p *radosPool) blobs(t testing.TB) int {
	t.Helper()
	n := 0
	p.each(t, false, func(name string, _ []byte) {
		if !strings.Contains(name, ".") {
			n++
		}
	})
	return n
}

func (p *radosPool) holds(t testing.TB, needle []byte) bool {
	t.Helper()
	found := false
	p.each(t, true, func(_ string, data []byte) { found = found || bytes.Contains(data, needle) })
	return found
}
