// Package config owns the server's configuration: one Config struct filled
// from flags, then from STOWAGE_* environment variables for anything no flag
// set, and validated once before any component starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is everything `stowage serve` needs. Zero values are never used:
// Parse fills defaults and Validate rejects what cannot work.
type Config struct {
	DataDir   string // all state of the embedded default
	Listen    string // management API
	S3Listen  string // S3 data plane
	NBDListen string // NBD data plane
	NFSListen string // NFS data plane (filesystem volumes)
	Database  string // empty: SQLite in the data dir; postgres://… selects PostgreSQL
	Region    string
	Zones     []string
	S3Domain  string // enables virtual-hosted style when set
	// MasterKey, when set, replaces the key file in the data dir used to
	// encrypt S3 secrets at rest. Hex or base64 of 32 bytes.
	MasterKey string
	LogLevel  slog.Level
	// ShutdownTimeout bounds how long in-flight requests and jobs may take
	// to drain after SIGTERM.
	ShutdownTimeout time.Duration
	// MaxBodyBytes limits JSON request bodies on the management API.
	MaxBodyBytes int64
	// RetentionInterval is how often snapshots past kept_until are deleted.
	RetentionInterval time.Duration
	// HeaderTimeout bounds how long a client may take to present a
	// request: the headers of an HTTP request on the API and S3 listeners
	// (and a new connection's silence), the NBD handshake. Together with
	// MaxHeaderBytes it keeps a slowloris from holding connections.
	HeaderTimeout time.Duration
	// IdleTimeout closes HTTP keep-alive connections idle this long.
	IdleTimeout time.Duration
	// BodyTimeout bounds reading a whole management API request, body
	// included (bodies there are at most MaxBodyBytes). S3 bodies are
	// unbounded in size, so the S3 listener has no such limit.
	BodyTimeout time.Duration
	// MaxHeaderBytes limits HTTP request headers on the API and S3
	// listeners; larger requests get 431.
	MaxHeaderBytes int
	// S3SigV2 accepts requests signed with signature version 2 (s3cmd,
	// botocore's default presigned URLs in us-east-1).
	S3SigV2 bool
	// S3LifecycleDay is how long a lifecycle "day" lasts; tests shorten
	// it (as RGW's rgw_lc_debug_interval), passes run a quarter of it apart.
	S3LifecycleDay time.Duration
	// DialectRegions names this node's region in a dialect's own terms
	// (wayscloud: bucket region, wayscloud-s3: the S3 signing region its
	// credentials report, hpcai: the region id), so each face answers its
	// provider's examples verbatim.
	DialectRegions map[string]string
	// ReserveBytes is free space the data planes leave on the data dir's
	// file system: S3 writes and new volume chunks are refused (507,
	// ENOSPC) before they eat into it, so the database can still record
	// the deletes that free space.
	ReserveBytes int64
	// PublicURL, when set, is where clients reach the management API
	// (scheme, host and an optional path prefix, e.g. behind a proxy):
	// absolute links the API hands out use it instead of the request's
	// Host header.
	PublicURL string
	// AllowedHosts, when not empty, are the Host values the management
	// API answers (a leading dot also allows every subdomain); any other
	// Host gets 400. Empty allows every Host.
	AllowedHosts []string
	// WaldurActionStatus is the status of the Waldur volume actions
	// (extend, retype, attach, detach): 200 as the seed documents and
	// clients before mid-2026 expect, or 202 as current Waldur answers.
	WaldurActionStatus int
	// PasswordHashTime and PasswordHashMemoryKiB set Argon2id's cost for
	// new password hashes; zero is OWASP's minimum (t=2, 19 MiB). There
	// is no flag: only test servers lower it, where the race detector
	// makes each hash take half a second and every server hashes its
	// admin's password at first start.
	PasswordHashTime      uint32
	PasswordHashMemoryKiB uint32
	// TransferPartSize is the part size of the multipart uploads that
	// volume exports larger than it (or of unknown size) write to a
	// bucket; zero is a gigabyte. There is no flag: only tests lower it,
	// to S3's 5 MiB minimum, to cover multipart without writing 5 GiB.
	TransferPartSize int64
	// Ceph, when set, is the ceph.conf of a cluster whose RBD pool RBDPool
	// holds block volumes and whose RADOS pool RADOSPool holds object
	// bodies, reached as the cephx user CephUser; it needs a binary built
	// with `make build-ceph`.
	Ceph      string
	CephUser  string
	RBDPool   string
	RADOSPool string
	// CephFS, with Ceph, names the CephFS file system that holds
	// filesystem volumes (a directory each, with Ceph quotas); without
	// it they stay on the node's disk.
	CephFS string
	// TLSCert and TLSKey turn on TLS on the API and S3 listeners and
	// NBD STARTTLS: a certificate and key file, or TLSCert alone naming a
	// directory of NAME.crt/NAME.key pairs chosen by server name (tls.go
	// in package server).
	TLSCert, TLSKey string
	// TLSPollInterval is how often the certificate files are checked for
	// a change; zero is the server's default. No flag: tests shorten it.
	TLSPollInterval time.Duration
	// NBDTLS is "off", "on" (STARTTLS offered when TLS is configured) or
	// "require" (plain-text clients refused with NBD_REP_ERR_TLS_REQD).
	NBDTLS string
	// MeterInterval is how often usage levels are sampled, MeterFlush how
	// often the data planes' request counters are written (a crash loses
	// at most this window), MeterRetention how long usage stays hourly
	// before it folds into days; BillingCurrency is the plans' currency.
	MeterInterval   time.Duration
	MeterFlush      time.Duration
	MeterRetention  time.Duration
	BillingCurrency string
	// NodeName names this node in the registry (default: the host name);
	// AdvertiseAPI, AdvertiseS3, AdvertiseNBD and AdvertiseNFS are the
	// host:port clients are told when it differs from the listen address
	// (behind NAT, a proxy, or a wildcard listen address). Version is the
	// binary's, for the registry; the CLI sets it.
	NodeName                                              string
	AdvertiseAPI, AdvertiseS3, AdvertiseNBD, AdvertiseNFS string
	Version                                               string
	// NotifyAllow are the destinations S3 event notification webhooks
	// may reach: CIDRs, addresses, host names or "public" (globally
	// routable addresses). Empty allows none, so webhooks are off until
	// the operator names where they may go.
	NotifyAllow []string
}

// Default returns the embedded defaults of contract.md.
func Default() Config {
	return Config{
		DataDir:         "./stowage-data",
		Listen:          "127.0.0.1:8080",
		S3Listen:        "127.0.0.1:9000",
		NBDListen:       "127.0.0.1:10809",
		NFSListen:       "127.0.0.1:2049",
		Region:          "local-1",
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: 30 * time.Second,
		MaxBodyBytes:    1 << 20,

		RetentionInterval: time.Minute,
		HeaderTimeout:     10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BodyTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ReserveBytes:      64 << 20,
		S3SigV2:           true,
		S3LifecycleDay:    24 * time.Hour,
		DialectRegions:    DefaultDialectRegions(),

		WaldurActionStatus: 200,
		CephUser:           "client.admin",
		RBDPool:            "stowage-volumes",
		RADOSPool:          "stowage-objects",
		NBDTLS:             "on",

		MeterInterval:   5 * time.Minute,
		MeterFlush:      10 * time.Second,
		MeterRetention:  35 * 24 * time.Hour,
		BillingCurrency: "EUR",
	}
}

// Parse reads args (without the program and sub-command names) and the
// environment. Flags win over STOWAGE_* variables, which win over defaults.
func Parse(args []string, getenv func(string) string) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	var zones, level, regions, sigv2, lcDay, hosts, actionStatus, meterInterval, meterFlush, meterRetention, notifyAllow string
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory holding all state of the embedded default")
	fs.StringVar(&c.Listen, "listen", c.Listen, "management API listen address")
	fs.StringVar(&c.S3Listen, "s3-listen", c.S3Listen, "S3 listen address")
	fs.StringVar(&c.NBDListen, "nbd-listen", c.NBDListen, "NBD listen address")
	fs.StringVar(&c.NFSListen, "nfs-listen", c.NFSListen, "NFS listen address")
	fs.StringVar(&c.Database, "database", c.Database, "database DSN (default: SQLite in the data dir; postgres://… for PostgreSQL)")
	fs.StringVar(&c.Region, "region", c.Region, "the region this node serves")
	fs.StringVar(&zones, "zones", "", "comma-separated availability zones (default: <region>a)")
	fs.StringVar(&c.S3Domain, "s3-domain", c.S3Domain, "domain for virtual-hosted-style S3 requests")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&sigv2, "s3-sigv2", "true", "accept S3 requests signed with signature version 2 (true or false)")
	fs.StringVar(&lcDay, "s3-lifecycle-day", c.S3LifecycleDay.String(), "length of a lifecycle day (shorten for tests only)")
	fs.StringVar(&regions, "dialect-regions", "", "the region's name per dialect, as dialect=name,… (wayscloud, wayscloud-s3, hpcai)")
	fs.StringVar(&c.Ceph, "ceph", c.Ceph, "ceph.conf of the Ceph cluster that holds block volumes (needs a binary from make build-ceph)")
	fs.StringVar(&c.CephUser, "ceph-user", c.CephUser, "cephx user, as client.NAME or NAME")
	fs.StringVar(&c.RBDPool, "rbd-pool", c.RBDPool, "RBD pool for block volumes")
	fs.StringVar(&c.RADOSPool, "rados-pool", c.RADOSPool, "RADOS pool for object bodies")
	fs.StringVar(&c.CephFS, "cephfs", c.CephFS, "CephFS file system for filesystem volumes (with --ceph; without it they stay on the node's disk)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "certificate file (PEM, chain included), or a directory of NAME.crt/NAME.key pairs; TLS on the API and S3 listeners")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "private key file of --tls-cert (PEM)")
	fs.StringVar(&c.NBDTLS, "nbd-tls", c.NBDTLS, "NBD STARTTLS with the --tls-cert certificates: on, require or off")
	fs.String("config", "", "config file (TOML: flag names as keys); flags and STOWAGE_* variables win over it")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to drain on SIGTERM")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL clients reach the API at; absolute links use it instead of the Host header")
	fs.StringVar(&hosts, "allowed-hosts", "", "comma-separated Host values the API answers (.example.com allows subdomains; default: any)")
	fs.StringVar(&actionStatus, "waldur-action-status", "200", "status of Waldur volume actions: 200 (seed, clients before mid-2026) or 202 (current Waldur)")
	fs.StringVar(&meterInterval, "meter-interval", c.MeterInterval.String(), "how often usage levels are sampled")
	fs.StringVar(&meterFlush, "meter-flush", c.MeterFlush.String(), "how often request counters are written (a crash loses at most this window)")
	fs.StringVar(&meterRetention, "meter-retention", c.MeterRetention.String(), "how long usage stays hourly before it folds into days")
	fs.StringVar(&c.BillingCurrency, "billing-currency", c.BillingCurrency, "currency of plan prices, costs and invoices")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "this node's name in the cluster's registry (default: the host name)")
	fs.StringVar(&c.AdvertiseAPI, "advertise-api", c.AdvertiseAPI, "host:port clients are told for the management API (default: the listen address)")
	fs.StringVar(&c.AdvertiseS3, "advertise-s3", c.AdvertiseS3, "host:port clients are told for S3 (default: the S3 listen address)")
	fs.StringVar(&c.AdvertiseNBD, "advertise-nbd", c.AdvertiseNBD, "host:port attachments name for NBD (default: the NBD listen address)")
	fs.StringVar(&c.AdvertiseNFS, "advertise-nfs", c.AdvertiseNFS, "host:port attachments name for NFS (default: the NFS listen address)")
	fs.StringVar(&notifyAllow, "notify-allow", "", "comma-separated destinations S3 event webhooks may reach: CIDRs, addresses, host names or public (default: none)")
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fromEnv := map[string]bool{}
	env := func(name, key string, dst *string) {
		if v := getenv(key); v != "" && !set[name] {
			*dst, fromEnv[name] = v, true
		}
	}
	env("data-dir", "STOWAGE_DATA_DIR", &c.DataDir)
	env("listen", "STOWAGE_LISTEN", &c.Listen)
	env("s3-listen", "STOWAGE_S3_LISTEN", &c.S3Listen)
	env("nbd-listen", "STOWAGE_NBD_LISTEN", &c.NBDListen)
	env("nfs-listen", "STOWAGE_NFS_LISTEN", &c.NFSListen)
	env("database", "STOWAGE_DATABASE", &c.Database)
	env("region", "STOWAGE_REGION", &c.Region)
	env("zones", "STOWAGE_ZONES", &zones)
	env("s3-domain", "STOWAGE_S3_DOMAIN", &c.S3Domain)
	env("log-level", "STOWAGE_LOG_LEVEL", &level)
	env("s3-sigv2", "STOWAGE_S3_SIGV2", &sigv2)
	env("s3-lifecycle-day", "STOWAGE_S3_LIFECYCLE_DAY", &lcDay)
	env("dialect-regions", "STOWAGE_DIALECT_REGIONS", &regions)
	env("public-url", "STOWAGE_PUBLIC_URL", &c.PublicURL)
	env("allowed-hosts", "STOWAGE_ALLOWED_HOSTS", &hosts)
	env("waldur-action-status", "STOWAGE_WALDUR_ACTION_STATUS", &actionStatus)
	env("ceph", "STOWAGE_CEPH", &c.Ceph)
	env("ceph-user", "STOWAGE_CEPH_USER", &c.CephUser)
	env("rbd-pool", "STOWAGE_RBD_POOL", &c.RBDPool)
	env("rados-pool", "STOWAGE_RADOS_POOL", &c.RADOSPool)
	env("cephfs", "STOWAGE_CEPHFS", &c.CephFS)
	env("tls-cert", "STOWAGE_TLS_CERT", &c.TLSCert)
	env("tls-key", "STOWAGE_TLS_KEY", &c.TLSKey)
	env("nbd-tls", "STOWAGE_NBD_TLS", &c.NBDTLS)
	env("meter-interval", "STOWAGE_METER_INTERVAL", &meterInterval)
	env("meter-flush", "STOWAGE_METER_FLUSH", &meterFlush)
	env("meter-retention", "STOWAGE_METER_RETENTION", &meterRetention)
	env("billing-currency", "STOWAGE_BILLING_CURRENCY", &c.BillingCurrency)
	env("node-name", "STOWAGE_NODE_NAME", &c.NodeName)
	env("advertise-api", "STOWAGE_ADVERTISE_API", &c.AdvertiseAPI)
	env("advertise-s3", "STOWAGE_ADVERTISE_S3", &c.AdvertiseS3)
	env("advertise-nbd", "STOWAGE_ADVERTISE_NBD", &c.AdvertiseNBD)
	env("advertise-nfs", "STOWAGE_ADVERTISE_NFS", &c.AdvertiseNFS)
	env("notify-allow", "STOWAGE_NOTIFY_ALLOW", &notifyAllow)
	if err := applyFile(fs, set, fromEnv, getenv); err != nil {
		return Config{}, err
	}
	c.MasterKey = getenv("STOWAGE_MASTER_KEY")
	for _, d := range []struct {
		name string
		v    string
		dst  *time.Duration
	}{{"meter-interval", meterInterval, &c.MeterInterval}, {"meter-flush", meterFlush, &c.MeterFlush}, {"meter-retention", meterRetention, &c.MeterRetention}} {
		var err error
		if *d.dst, err = time.ParseDuration(d.v); err != nil {
			return Config{}, fmt.Errorf("--%s %q: %w", d.name, d.v, err)
		}
	}
	v2, err := strconv.ParseBool(sigv2)
	if err != nil {
		return Config{}, fmt.Errorf("--s3-sigv2 %q: want true or false", sigv2)
	}
	c.S3SigV2 = v2
	if c.S3LifecycleDay, err = time.ParseDuration(lcDay); err != nil || c.S3LifecycleDay <= 0 {
		return Config{}, fmt.Errorf("--s3-lifecycle-day %q: want a positive duration", lcDay)
	}
	if err := c.parseDialectRegions(regions); err != nil {
		return Config{}, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return Config{}, fmt.Errorf("log level %q: %w", level, err)
	}
	switch actionStatus {
	case "200", "202":
		c.WaldurActionStatus, _ = strconv.Atoi(actionStatus)
	default:
		return Config{}, fmt.Errorf("--waldur-action-status %q: want 200 or 202", actionStatus)
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			c.AllowedHosts = append(c.AllowedHosts, h)
		}
	}
	for _, a := range strings.Split(notifyAllow, ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.NotifyAllow = append(c.NotifyAllow, a)
		}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if zones != "" {
		for _, z := range strings.Split(zones, ",") {
			if z = strings.TrimSpace(z); z != "" {
				c.Zones = append(c.Zones, z)
			}
		}
	}
	if len(c.Zones) == 0 {
		c.Zones = []string{c.Region + "a"}
	}
	return c, c.Validate()
}

// DefaultDialectRegions are the region names the providers' own documents
// use: WAYSCloud's buckets live in no-oslo-1 while its credentials name
// eu-north-1 for S3 clients. HPC-AI's default id is derived from the
// region's name by the dialect.
func DefaultDialectRegions() map[string]string {
	return map[string]string{"wayscloud": "no-oslo-1", "wayscloud-s3": "eu-north-1"}
}

// dialectsWithRegions are the dialects that name regions their own way.
var dialectsWithRegions = []string{"wayscloud", "wayscloud-s3", "hpcai"}

// parseDialectRegions overrides the defaults with "dialect=name,…".
func (c *Config) parseDialectRegions(s string) error {
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		d, name, ok := strings.Cut(kv, "=")
		d, name = strings.TrimSpace(d), strings.TrimSpace(name)
		if !ok || !slices.Contains(dialectsWithRegions, d) || !validName(name) {
			return fmt.Errorf("--dialect-regions %q: want dialect=name with a dialect of %s and a name of lowercase letters, digits and hyphens",
				kv, strings.Join(dialectsWithRegions, ", "))
		}
		c.DialectRegions[d] = name
	}
	return nil
}

// Validate reports every problem at once so an operator fixes them in one go.
func (c *Config) Validate() error {
	var problems []error
	if c.DataDir == "" {
		problems = append(problems, errors.New("data dir must not be empty"))
	}
	for name, addr := range map[string]string{"listen": c.Listen, "s3-listen": c.S3Listen, "nbd-listen": c.NBDListen, "nfs-listen": c.NFSListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			problems = append(problems, fmt.Errorf("--%s %q: %w", name, addr, err))
		}
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") &&
		!strings.HasPrefix(c.Database, "sqlite:") {
		problems = append(problems, fmt.Errorf("--database %q: want postgres://… or sqlite:PATH", c.Database))
	}
	if !validName(c.Region) {
		problems = append(problems, fmt.Errorf("--region %q: lowercase letters, digits and hyphens", c.Region))
	}
	for _, z := range c.Zones {
		if !validName(z) {
			problems = append(problems, fmt.Errorf("zone %q: lowercase letters, digits and hyphens", z))
		}
	}
	if c.RetentionInterval <= 0 {
		problems = append(problems, errors.New("retention interval must be positive"))
	}
	if c.MeterInterval < time.Second || c.MeterFlush < 100*time.Millisecond || c.MeterRetention < 24*time.Hour {
		problems = append(problems, errors.New("--meter-interval must be at least 1s, --meter-flush at least 100ms, --meter-retention at least 24h"))
	}
	if !validCurrency(c.BillingCurrency) {
		problems = append(problems, fmt.Errorf("--billing-currency %q: want a three-letter code such as EUR", c.BillingCurrency))
	}
	if c.ShutdownTimeout <= 0 {
		problems = append(problems, errors.New("shutdown timeout must be positive"))
	}
	if c.ReserveBytes < 0 {
		problems = append(problems, errors.New("the disk reserve must not be negative"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			problems = append(problems, fmt.Errorf("--public-url %q: want http(s)://host[:port][/prefix]", c.PublicURL))
		}
	}
	if c.WaldurActionStatus != 200 && c.WaldurActionStatus != 202 {
		problems = append(problems, fmt.Errorf("waldur action status %d: want 200 or 202", c.WaldurActionStatus))
	}
	if c.HeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.BodyTimeout <= 0 || c.MaxHeaderBytes <= 0 {
		problems = append(problems, errors.New("header, idle and body timeouts and the header size limit must be positive"))
	}
	if c.Ceph != "" && (c.CephUser == "" || c.RBDPool == "" || c.RADOSPool == "") {
		problems = append(problems, errors.New("--ceph needs a --ceph-user, an --rbd-pool and a --rados-pool"))
	}
	if c.CephFS != "" && c.Ceph == "" {
		problems = append(problems, errors.New("--cephfs needs --ceph"))
	}
	for name, addr := range map[string]string{"advertise-api": c.AdvertiseAPI, "advertise-s3": c.AdvertiseS3, "advertise-nbd": c.AdvertiseNBD, "advertise-nfs": c.AdvertiseNFS} {
		if addr == "" {
			continue
		}
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" || port == "0" {
			problems = append(problems, fmt.Errorf("--%s %q: want host:port with a port clients can reach", name, addr))
		}
	}
	if len(c.NodeName) > 253 || strings.ContainsAny(c.NodeName, " \t\n/") {
		problems = append(problems, fmt.Errorf("--node-name %q: at most 253 characters, no spaces or slashes", c.NodeName))
	}
	problems = append(problems, c.validateTLS()...)
	return errors.Join(problems...)
}

// DatabaseDSN returns the DSN to open: the configured one, or the SQLite
// file in the data dir.
func (c *Config) DatabaseDSN() string {
	if c.Database != "" {
		return c.Database
	}
	return "sqlite:" + filepath.Join(c.DataDir, "stowage.db")
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// validCurrency accepts ISO 4217-shaped codes.
func validCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
