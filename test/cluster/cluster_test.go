//go:build ceph

package cluster

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/stowage/stowage/internal/testenv"
)

const mib = 1 << 20

// leaseBound is how long after a SIGKILL the dead node's jobs may take to
// run on another node: the cluster's 5 s job lease, a reap interval and
// slack for a loaded machine.
const leaseBound = 12 * time.Second

// settleBound is how long after a kill every job may take to be done. A
// job on an RBD image whose exclusive lock the dead node held waits until
// a live node fences the dead one (6–10 s, see lockBound), no longer for
// Ceph's 30 s watch timeout.
const settleBound = 15 * time.Second

// statusBound is how long a resource may take to reach the status the
// workload waits for, a kill included.
const statusBound = 90 * time.Second

// servedBy is the response header HAProxy adds: which node answered.
const servedBy = "X-Served-By"

// node is one member: fixed ports (HAProxy's configuration names them,
// and a killed node comes back on the same ones) and a data dir of its own.
type node struct {
	name              string
	dir, log          string
	api, s3, nbd, nfs string
	proc              *testenv.Node
	alive             bool
}

// cluster is the nodes on one PostgreSQL and one Ceph, and HAProxy.
type cluster struct {
	t        testing.TB
	bin      string
	dsn      string
	db       *sql.DB
	nodes    []*node
	token    string
	haAPI    string
	haS3     string
	haCmd    *exec.Cmd
	http     *http.Client
	cephArgs []string
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newCluster makes room for n nodes; start them with start.
func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatal("haproxy is not installed (apt-get install haproxy; make test-deps installs it)")
	}
	nfsTools(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	// Every node must share the master key, as the README says.
	t.Setenv("STOWAGE_MASTER_KEY", hex.EncodeToString(key))
	c := &cluster{t: t, bin: testenv.BuildCeph(t), dsn: testenv.FreshPostgres(t), http: &http.Client{Timeout: 30 * time.Second},
		cephArgs: append(testenv.CephArgs(t), "--rados-pool", "stowage-objects", "--cephfs", testenv.CephFSName)}
	db, err := sql.Open("pgx", c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.db = db
	logs := t.TempDir()
	for i := range n {
		c.nodes = append(c.nodes, &node{name: fmt.Sprintf("n%d", i+1), dir: t.TempDir(), log: filepath.Join(logs, fmt.Sprintf("n%d.log", i+1)),
			api: freePort(t), s3: freePort(t), nbd: freePort(t), nfs: freePort(t)})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range c.nodes {
				b, _ := os.ReadFile(nd.log)
				t.Logf("%s log (tail):\n%s", nd.name, tail(b, 3000))
			}
		}
	})
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// start runs node i and waits until it is ready.
func (c *cluster) start(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	args := append([]string{"--database", c.dsn, "--node-name", nd.name, "--listen", nd.api, "--s3-listen", nd.s3,
		"--nbd-listen", nd.nbd, "--nfs-listen", nd.nfs}, c.cephArgs...)
	nd.proc = testenv.StartNode(c.t, c.bin, nd.dir, nd.log, args...)
	if nd.proc.Token != "" {
		c.token = nd.proc.Token
	}
	nd.proc.Token = c.token
	c.waitReady(nd)
	nd.alive = true
}

func (c *cluster) waitReady(nd *node) {
	c.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if r, err := c.http.Get("http://" + nd.api + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not become ready; see %s", nd.name, nd.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends node i with SIGKILL.
func (c *cluster) kill(i int) {
	c.nodes[i].proc.Kill()
	c.nodes[i].alive = false
}

// haproxy starts HAProxy in front of the first n nodes' API and S3
// listeners, checking each node's /readyz every 500 ms.
func (c *cluster) haproxy(n int) {
	c.t.Helper()
	c.haAPI, c.haS3 = freePort(c.t), freePort(c.t)
	var api, s3 strings.Builder
	for _, nd := range c.nodes[:n] {
		_, apiPort, _ := net.SplitHostPort(nd.api)
		fmt.Fprintf(&api, "    server %s %s check\n", nd.name, nd.api)
		fmt.Fprintf(&s3, "    server %s %s check port %s\n", nd.name, nd.s3, apiPort)
	}
	cfg := fmt.Sprintf(haproxyConfig, c.haAPI, c.haS3, api.String(), s3.String())
	path := filepath.Join(c.t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	logf, err := os.Create(path + ".log")
	if err != nil {
		c.t.Fatal(err)
	}
	c.haCmd = exec.Command("haproxy", "-f", path, "-db")
	c.haCmd.Stdout, c.haCmd.Stderr = logf, logf
	if err := c.haCmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { c.haCmd.Process.Kill(); c.haCmd.Wait(); logf.Close() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err := c.http.Get("http://" + c.haAPI + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path + ".log")
			c.t.Fatalf("haproxy did not come up:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// haproxyConfig is what docs/operations.md recommends, on free loopback
// ports: round robin over the nodes, each checked on /readyz, a request
// that could not reach a node sent to another, and the answering node's
// name in X-Served-By (the suite reads back from another node).
const haproxyConfig = `global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option redispatch
    retries 2
    retry-on conn-failure empty-response
    timeout check 3s
    default-server inter 500ms fall 2 rise 1
frontend api
    bind %s
    default_backend api
frontend s3
    bind %s
    default_backend s3
backend api
    balance roundrobin
    option httpchk GET /readyz
    http-response set-header X-Served-By %%s
%sbackend s3
    balance roundrobin
    option httpchk GET /readyz
    http-response set-header X-Served-By %%s
%s`

// call sends a native API request to addr (HAProxy or a node) as the admin.
func (c *cluster) call(addr, method, path string, body, out any) (int, error) {
	return testenv.CallAPI(c.http, addr, c.token, method, path, body, out)
}

func (c *cluster) must(addr, method, path string, body, out any) {
	c.t.Helper()
	if _, err := c.call(addr, method, path, body, out); err != nil {
		c.t.Fatal(err)
	}
}

// fixture is the project, bucket and key the workload uses.
type fixture struct {
	project, bucket, access, secret string
}

func (c *cluster) fixture() fixture {
	c.t.Helper()
	var ps struct{ Items []struct{ ID string } }
	c.must(c.haAPI, "GET", "/api/v1/projects", nil, &ps)
	fx := fixture{project: ps.Items[0].ID, bucket: "cluster-" + hex.EncodeToString(randBytes(3))}
	c.must(c.haAPI, "POST", "/api/v1/projects/"+fx.project+"/buckets", map[string]any{"name": fx.bucket}, nil)
	var k struct {
		Access string `json:"access_key_id"`
		Secret string `json:"secret_access_key"`
	}
	c.must(c.haAPI, "POST", "/api/v1/projects/"+fx.project+"/credentials", nil, &k)
	fx.access, fx.secret = k.Access, k.Secret
	return fx
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (c *cluster) s3(addr string, fx fixture, attempts int) *awss3.Client {
	return awss3.New(awss3.Options{
		Region: "local-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider(fx.access, fx.secret, ""),
		RetryMaxAttempts: attempts,
		HTTPClient:       &http.Client{Timeout: 30 * time.Second},
	})
}

// servedHeader is the node HAProxy says answered an SDK call.
func servedHeader(md middleware.Metadata) string {
	if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		return r.Header.Get(servedBy)
	}
	return ""
}
