package s3

import (
	"net/http"
	"net/url"
	"strings"
)

// Scope is what an S3 request names: the service, a bucket, or an object.
type Scope int

const (
	ServiceScope Scope = iota // "/"
	BucketScope               // "/bucket"
	ObjectScope               // "/bucket/key"
)

func (s Scope) String() string {
	return [...]string{"service", "bucket", "object"}[s]
}

// Route is one S3 operation as the router selects it. The first route in
// Routes whose method and scope match, whose query keys are all present
// (an entry "key=value" also needs that value) and whose header, if any, is
// present serves the request. The table is data so that tests can walk
// every operation (the tenant isolation matrix does); ServeHTTP routes with
// the same table, so a new operation cannot be added without appearing.
type Route struct {
	Op     string // the S3 operation name, as metrics and logs show it
	Method string
	Scope  Scope
	Query  []string
	Header string
	serve  func(h *Handler, w http.ResponseWriter, req *request) error
}

// Bucket subresources this handler does not implement; asking for one is
// NotImplemented rather than being mistaken for a plain bucket request.
var unsupportedBucketQueries = []string{"website", "logging", "replication",
	"accelerate", "requestPayment", "analytics", "metrics", "inventory",
	"intelligent-tiering"}

// Routes returns the routing table in precedence order; the handler keeps
// its own copy.
func Routes() []Route {
	const (
		svc = ServiceScope
		bkt = BucketScope
		obj = ObjectScope
	)
	unsupported := func(method string) []Route {
		var rs []Route
		for _, q := range unsupportedBucketQueries {
			rs = append(rs, Route{"NotImplemented", method, bkt, []string{q}, "", notImplemented(method + " ?" + q)})
		}
		return rs
	}
	copySource := "X-Amz-Copy-Source"
	var rs []Route
	add := func(r ...Route) { rs = append(rs, r...) }
	add(Route{"ListBuckets", "GET", svc, nil, "", (*Handler).listBuckets})

	add(
		Route{"PutBucketAcl", "PUT", bkt, []string{"acl"}, "", (*Handler).putBucketACL},
		Route{"PutBucketPolicy", "PUT", bkt, []string{"policy"}, "", (*Handler).putBucketPolicy},
		Route{"PutBucketVersioning", "PUT", bkt, []string{"versioning"}, "", (*Handler).putBucketVersioning},
		Route{"PutPublicAccessBlock", "PUT", bkt, []string{"publicAccessBlock"}, "", (*Handler).putPublicAccessBlock},
		Route{"PutBucketOwnershipControls", "PUT", bkt, []string{"ownershipControls"}, "", (*Handler).putOwnershipControls},
		Route{"PutBucketCors", "PUT", bkt, []string{"cors"}, "", (*Handler).putBucketCORS},
		Route{"PutBucketEncryption", "PUT", bkt, []string{"encryption"}, "", (*Handler).putBucketEncryption},
		Route{"PutObjectLockConfiguration", "PUT", bkt, []string{"object-lock"}, "", (*Handler).putObjectLockConfiguration},
		Route{"PutBucketTagging", "PUT", bkt, []string{"tagging"}, "", (*Handler).putBucketTagging},
		Route{"PutBucketLifecycleConfiguration", "PUT", bkt, []string{"lifecycle"}, "", (*Handler).putBucketLifecycle},
		Route{"PutBucketNotificationConfiguration", "PUT", bkt, []string{"notification"}, "", (*Handler).putBucketNotification},
	)
	add(unsupported("PUT")...)
	add(Route{"CreateBucket", "PUT", bkt, nil, "", (*Handler).createBucket})

	add(
		Route{"GetBucketLocation", "GET", bkt, []string{"location"}, "", (*Handler).getBucketLocation},
		Route{"GetBucketAcl", "GET", bkt, []string{"acl"}, "", (*Handler).getBucketACL},
		Route{"GetBucketPolicy", "GET", bkt, []string{"policy"}, "", (*Handler).getBucketPolicy},
		Route{"GetBucketPolicyStatus", "GET", bkt, []string{"policyStatus"}, "", (*Handler).getBucketPolicyStatus},
		Route{"GetBucketVersioning", "GET", bkt, []string{"versioning"}, "", (*Handler).getBucketVersioning},
		Route{"ListMultipartUploads", "GET", bkt, []string{"uploads"}, "", (*Handler).listUploads},
		Route{"ListObjectVersions", "GET", bkt, []string{"versions"}, "", (*Handler).listObjectVersions},
		Route{"GetPublicAccessBlock", "GET", bkt, []string{"publicAccessBlock"}, "", (*Handler).getPublicAccessBlock},
		Route{"GetBucketOwnershipControls", "GET", bkt, []string{"ownershipControls"}, "", (*Handler).getOwnershipControls},
		Route{"GetBucketCors", "GET", bkt, []string{"cors"}, "", (*Handler).getBucketCORS},
		Route{"GetBucketEncryption", "GET", bkt, []string{"encryption"}, "", (*Handler).getBucketEncryption},
		Route{"GetObjectLockConfiguration", "GET", bkt, []string{"object-lock"}, "", (*Handler).getObjectLockConfiguration},
		Route{"GetBucketTagging", "GET", bkt, []string{"tagging"}, "", (*Handler).getBucketTagging},
		Route{"GetBucketLifecycleConfiguration", "GET", bkt, []string{"lifecycle"}, "", (*Handler).getBucketLifecycle},
		Route{"GetBucketNotificationConfiguration", "GET", bkt, []string{"notification"}, "", (*Handler).getBucketNotification},
		Route{"ListObjectsV2", "GET", bkt, []string{"list-type=2"}, "", (*Handler).listObjectsV2},
	)
	add(unsupported("GET")...)
	add(Route{"ListObjects", "GET", bkt, nil, "", (*Handler).listObjectsV1})
	add(Route{"HeadBucket", "HEAD", bkt, nil, "", (*Handler).headBucket})

	add(
		Route{"DeleteBucketPolicy", "DELETE", bkt, []string{"policy"}, "", (*Handler).deleteBucketPolicy},
		Route{"DeletePublicAccessBlock", "DELETE", bkt, []string{"publicAccessBlock"}, "", (*Handler).deletePublicAccessBlock},
		Route{"DeleteBucketOwnershipControls", "DELETE", bkt, []string{"ownershipControls"}, "", (*Handler).deleteOwnershipControls},
		Route{"DeleteBucketCors", "DELETE", bkt, []string{"cors"}, "", (*Handler).deleteBucketCORS},
		Route{"DeleteBucketEncryption", "DELETE", bkt, []string{"encryption"}, "", (*Handler).deleteBucketEncryption},
		Route{"DeleteBucketTagging", "DELETE", bkt, []string{"tagging"}, "", (*Handler).deleteBucketTagging},
		Route{"DeleteBucketLifecycle", "DELETE", bkt, []string{"lifecycle"}, "", (*Handler).deleteBucketLifecycle},
	)
	add(unsupported("DELETE")...)
	// Object lock is never turned off; without this a DELETE ?object-lock
	// would be a DeleteBucket.
	add(Route{"NotImplemented", "DELETE", bkt, []string{"object-lock"}, "", notImplemented("turning object lock off")})
	add(Route{"DeleteBucket", "DELETE", bkt, nil, "", (*Handler).deleteBucket})
	add(Route{"DeleteObjects", "POST", bkt, []string{"delete"}, "", (*Handler).deleteObjects})
	add(Route{"PostObject", "POST", bkt, nil, "", (*Handler).postObject})

	add(
		Route{"UploadPartCopy", "PUT", obj, []string{"uploadId", "partNumber"}, copySource, (*Handler).uploadPartCopy},
		Route{"UploadPart", "PUT", obj, []string{"uploadId", "partNumber"}, "", (*Handler).uploadPart},
		Route{"PutObjectTagging", "PUT", obj, []string{"tagging"}, "", (*Handler).putObjectTagging},
		Route{"PutObjectAcl", "PUT", obj, []string{"acl"}, "", (*Handler).putObjectACL},
		Route{"PutObjectRetention", "PUT", obj, []string{"retention"}, "", (*Handler).putObjectRetention},
		Route{"PutObjectLegalHold", "PUT", obj, []string{"legal-hold"}, "", (*Handler).putObjectLegalHold},
		Route{"CopyObject", "PUT", obj, nil, copySource, (*Handler).copyObject},
		Route{"PutObject", "PUT", obj, nil, "", (*Handler).putObject},

		Route{"ListParts", "GET", obj, []string{"uploadId"}, "", (*Handler).listParts},
		Route{"GetObjectTagging", "GET", obj, []string{"tagging"}, "", (*Handler).getObjectTagging},
		Route{"GetObjectAcl", "GET", obj, []string{"acl"}, "", (*Handler).getObjectACL},
		Route{"GetObjectAttributes", "GET", obj, []string{"attributes"}, "", (*Handler).getObjectAttributes},
		Route{"GetObjectRetention", "GET", obj, []string{"retention"}, "", (*Handler).getObjectRetention},
		Route{"GetObjectLegalHold", "GET", obj, []string{"legal-hold"}, "", (*Handler).getObjectLegalHold},
		Route{"NotImplemented", "GET", obj, []string{"torrent"}, "", notImplemented("this object subresource")},
		Route{"GetObject", "GET", obj, nil, "", (*Handler).getObject},
		Route{"HeadObject", "HEAD", obj, nil, "", (*Handler).headObject},

		Route{"AbortMultipartUpload", "DELETE", obj, []string{"uploadId"}, "", (*Handler).abortUpload},
		Route{"DeleteObjectTagging", "DELETE", obj, []string{"tagging"}, "", (*Handler).deleteObjectTagging},
		Route{"DeleteObject", "DELETE", obj, nil, "", (*Handler).deleteObject},

		Route{"CreateMultipartUpload", "POST", obj, []string{"uploads"}, "", (*Handler).createUpload},
		Route{"CompleteMultipartUpload", "POST", obj, []string{"uploadId"}, "", (*Handler).completeUpload},
	)
	return rs
}

// methodNotAllowed answers a method the path does not take.
func methodNotAllowed(*Handler, http.ResponseWriter, *request) error {
	return apiErr(errMethodNotAllowed, "the specified method is not allowed against this resource")
}

func notImplemented(what string) func(*Handler, http.ResponseWriter, *request) error {
	return func(*Handler, http.ResponseWriter, *request) error {
		return apiErr(errNotImplemented, "%s is not implemented", what)
	}
}

// route picks the operation from method, bucket/key presence, query keys
// and headers.
func (h *Handler) route(req *request) Route {
	scope := ObjectScope
	switch {
	case req.bucket == "":
		scope = ServiceScope
	case !req.hasKey:
		scope = BucketScope
	}
	q := req.r.URL.Query()
	for _, rt := range h.routes {
		if rt.Method == req.r.Method && rt.Scope == scope && matchQuery(q, rt.Query) &&
			(rt.Header == "" || req.r.Header.Get(rt.Header) != "") {
			return rt
		}
	}
	return Route{Op: "Unknown", serve: methodNotAllowed}
}

func matchQuery(q url.Values, keys []string) bool {
	for _, k := range keys {
		if k, v, ok := strings.Cut(k, "="); ok {
			if q.Get(k) != v {
				return false
			}
		} else if !q.Has(k) {
			return false
		}
	}
	return true
}
