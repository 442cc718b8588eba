package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

// s3URI is s3://bucket/key as the object commands take it; Key may be
// empty or a prefix.
type s3URI struct {
	Bucket, Key string
}

func (u s3URI) String() string { return "s3://" + u.Bucket + "/" + u.Key }

// parseS3URI reads s3://bucket[/key]; ok is false for anything that is not
// an s3:// argument (a local path).
func parseS3URI(s string) (u s3URI, ok bool, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return s3URI{}, false, nil
	}
	u.Bucket, u.Key, _ = strings.Cut(rest, "/")
	if u.Bucket == "" {
		return s3URI{}, true, usageError{fmt.Errorf("%q names no bucket: want s3://BUCKET/KEY", s)}
	}
	return u, true, nil
}

// s3Key is a project's S3 access key as the config file caches it.
type s3Key struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Endpoint        string `json:"endpoint_url"`
	Region          string `json:"region"`
}

// s3KeyName indexes the cache: S3 keys belong to a project, not to the
// token that created them, so every profile that reaches the project
// through the same endpoint shares one.
func s3KeyName(endpoint, project string) string { return endpoint + " " + project }

// onBucket runs op with an S3 client holding the key of the bucket's
// project (see bucketProject and withS3).
func (a *app) onBucket(cmd *cobra.Command, project, bucket string, op func(*s3.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if project, err = a.bucketProject(cmd, c, project, bucket); err != nil {
		return err
	}
	return a.withS3(cmd.Context(), c, project, op)
}

// withS3 runs op with an S3 client holding the project's key: the cached
// one, or a new one made through the native API and cached (mode 0600).
// When a cached key fails, op runs once more after a repair: a key the
// server no longer knows (revoked with `credential rm`) is replaced, and a
// key whose S3 address no longer answers (the node moved it) gets the
// address the server gives now. The transfers op runs are resumable, so
// running one twice costs little.
func (a *app) withS3(ctx context.Context, c *client.Client, project string, op func(*s3.Client) error) error {
	key, cached, err := a.s3Key(ctx, c, project)
	if err != nil {
		return err
	}
	// The command owns its connections: parts go in parallel, so each
	// keeps one between requests, and all close when the command is done.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.TLSClientConfig = c.TLSConfig()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	err = op(newS3Client(key, hc))
	switch {
	case !cached:
		return err
	case isS3Code(err, "InvalidAccessKeyId"):
		if err := a.saveS3Key(c.Endpoint(), project, nil); err != nil {
			return err
		}
		if key, _, err = a.s3Key(ctx, c, project); err != nil {
			return err
		}
	case client.IsUnreachable(err):
		cs, lerr := client.All[client.Credential](ctx, c, "/api/v1/projects/"+url.PathEscape(project)+"/credentials", nil)
		if lerr != nil {
			// The API does not answer either (the server is down):
			// what the person needs to read is why their command failed,
			// not why the repair did.
			return err
		}
		i := slices.IndexFunc(cs, func(cr client.Credential) bool { return cr.AccessKeyID == key.AccessKeyID })
		if i < 0 || cs[i].Endpoint == key.Endpoint {
			return err
		}
		key.Endpoint = cs[i].Endpoint
		if err := a.saveS3Key(c.Endpoint(), project, &key); err != nil {
			return err
		}
	default:
		return err
	}
	return op(newS3Client(key, hc))
}

// s3Key returns the project's cached key, or creates one; cached says which.
func (a *app) s3Key(ctx context.Context, c *client.Client, project string) (s3Key, bool, error) {
	ps, _, err := loadProfiles(a.getenv)
	if err != nil {
		return s3Key{}, false, err
	}
	if k, ok := ps.S3Keys[s3KeyName(c.Endpoint(), project)]; ok {
		return k, true, nil
	}
	var regions client.List[struct {
		Name string `json:"name"`
	}]
	if err := c.Do(ctx, "GET", "/api/v1/regions", nil, nil, &regions); err != nil {
		return s3Key{}, false, err
	}
	if len(regions.Items) == 0 {
		return s3Key{}, false, errors.New("the server names no region to sign S3 requests for")
	}
	host, _ := os.Hostname()
	var cr client.Credential
	if err := c.Do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(project)+"/credentials", nil,
		map[string]any{"description": "stowage command line on " + orDash(host)}, &cr); err != nil {
		return s3Key{}, false, err
	}
	k := s3Key{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, Endpoint: cr.Endpoint, Region: regions.Items[0].Name}
	return k, false, a.saveS3Key(c.Endpoint(), project, &k)
}

// saveS3Key caches k for the project, or forgets the cached key when k is
// nil.
func (a *app) saveS3Key(endpoint, project string, k *s3Key) error {
	ps, path, err := loadProfiles(a.getenv)
	if err != nil {
		return err
	}
	if ps.S3Keys == nil {
		ps.S3Keys = map[string]s3Key{}
	}
	if k == nil {
		delete(ps.S3Keys, s3KeyName(endpoint, project))
	} else {
		ps.S3Keys[s3KeyName(endpoint, project)] = *k
	}
	return ps.save(path)
}

// newS3Client signs with key, path-style. Checksums are computed only where
// S3 requires them: transfers send Content-MD5 themselves, and the SDK's
// default CRC32 would read every body one more time.
func newS3Client(key s3Key, hc *http.Client) *s3.Client {
	return s3.New(s3.Options{
		HTTPClient:                 hc,
		Region:                     key.Region,
		BaseEndpoint:               aws.String(key.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Logger:                     logging.Nop{},
	})
}

// bucketProject finds the project a bucket belongs to: the flag, else the
// only project the caller sees, else the one of the caller's projects that
// has it (staff see many).
func (a *app) bucketProject(cmd *cobra.Command, c *client.Client, project, bucket string) (string, error) {
	if project != "" {
		return project, nil
	}
	ctx := cmd.Context()
	ps, err := client.All[client.Project](ctx, c, "/api/v1/projects", nil)
	if err != nil {
		return "", err
	}
	if len(ps) == 1 {
		return ps[0].ID, nil
	}
	for _, p := range ps {
		err := c.Do(ctx, "GET", "/api/v1/projects/"+url.PathEscape(p.ID)+"/buckets/"+url.PathEscape(bucket), nil, nil, nil)
		if err == nil {
			return p.ID, nil
		}
		if !client.IsCode(err, "not_found") {
			return "", err
		}
	}
	return "", fmt.Errorf("bucket %s not found in any of the %d projects you see", bucket, len(ps))
}

// isS3Code reports whether err is an S3 error with the given code.
func isS3Code(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// isNotFound reports whether S3 answered 404, which is all a HEAD says.
func isNotFound(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// s3Error is an SDK error as the other commands print the server's: its
// message, code, status and request id, after what was being done. It
// unwraps to the SDK's error.
type s3Error struct {
	what string
	err  error
}

func (e s3Error) Unwrap() error { return e.err }

func (e s3Error) Error() string {
	var re *awshttp.ResponseError
	var ae smithy.APIError
	var oe *net.OpError
	if client.IsUnreachable(e.err) && errors.As(e.err, &oe) {
		return fmt.Sprintf("%s: cannot reach S3 at %s (%v): is the server running?", e.what, oe.Addr, oe.Err)
	}
	if !errors.As(e.err, &re) || !errors.As(e.err, &ae) {
		return e.what + ": " + e.err.Error()
	}
	msg := ae.ErrorMessage()
	if msg == "" {
		msg = strings.ToLower(http.StatusText(re.HTTPStatusCode()))
	}
	return fmt.Sprintf("%s: %s (%s, HTTP %d, request %s)", e.what, msg, ae.ErrorCode(), re.HTTPStatusCode(), orDash(re.ServiceRequestID()))
}

// s3Err wraps err, when there is one, as an s3Error.
func s3Err(what string, err error) error {
	if err == nil {
		return nil
	}
	return s3Error{what: what, err: err}
}
