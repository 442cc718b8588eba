package isolation

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stowage/stowage/internal/s3"
	"github.com/stowage/stowage/internal/testenv"
)

// formBoundary separates the fields of the browser-upload form probe.
const formBoundary = "stowage-isolation-form"

// s3Bodies are valid bodies for the operations that take one, so that a
// refusal is the wall's and not the parser's.
func s3Bodies(bucket, key string) map[string]string {
	// The ETag of "part-one", the part startUpload writes.
	partETag := fmt.Sprintf("%x", md5.Sum([]byte("part-one")))
	return map[string]string{
		"PutBucketPolicy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` +
			bucket + `/*"}]}`,
		"PutBucketVersioning":             `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`,
		"PutPublicAccessBlock":            `<PublicAccessBlockConfiguration><BlockPublicAcls>false</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls><BlockPublicPolicy>false</BlockPublicPolicy><RestrictPublicBuckets>false</RestrictPublicBuckets></PublicAccessBlockConfiguration>`,
		"PutBucketOwnershipControls":      `<OwnershipControls><Rule><ObjectOwnership>BucketOwnerPreferred</ObjectOwnership></Rule></OwnershipControls>`,
		"PutBucketCors":                   `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`,
		"PutObjectTagging":                `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`,
		"PutBucketTagging":                `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`,
		"PutBucketLifecycleConfiguration": `<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>p/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`,
		"DeleteObjects":                   `<Delete><Object><Key>` + key + `</Key></Object></Delete>`,
		"CompleteMultipartUpload":         `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"` + partETag + `"</ETag></Part></CompleteMultipartUpload>`,
		"PutBucketEncryption":             `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>`,
		"PostObject": "--" + formBoundary + "\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n" + key + "\r\n--" + formBoundary +
			"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\nintruder-bytes\r\n--" + formBoundary + "--\r\n",
		"PutObject":  "intruder-bytes",
		"UploadPart": "intruder-bytes",

		"PutBucketNotificationConfiguration": `<NotificationConfiguration/>`,
	}
}

// s3Matrix sends every operation of the S3 routing table at the victim's
// bucket as in (anonymous when nil), and, for operations that copy, from
// the victim's object into the intruder's own bucket.
func s3Matrix(t *testing.T, e *testenv.Env, v *victim, in *intruder, n *tally) {
	var creds *aws.Credentials
	secrets := []string{v.key, v.mpuKey, v.data, v.upload, v.s3.AccessKeyID, v.s3.SecretAccessKey, v.project}
	if in != nil {
		creds, secrets = &in.s3, in.secrets
	}
	for _, rt := range s3.Routes() {
		n.s3Routes++
		type target struct{ bucket, key, upload, part string }
		targets := []target{{v.bucket, v.key, v.upload, "1"}}
		if strings.Contains(strings.Join(rt.Query, "&"), "uploadId") {
			targets[0].key = v.mpuKey
		}
		if rt.Header != "" && in != nil {
			targets = append(targets, target{in.bucket, in.key, in.upload, "2"})
		}
		for _, tg := range targets {
			path := "/"
			switch rt.Scope {
			case s3.BucketScope:
				path += tg.bucket
			case s3.ObjectScope:
				path += tg.bucket + "/" + tg.key
			}
			query := testenv.S3Query(rt, tg.upload, tg.part)
			h := http.Header{}
			if rt.Header != "" {
				h.Set(rt.Header, "/"+v.bucket+"/"+v.key)
			}
			if strings.HasSuffix(rt.Op, "Acl") && rt.Method == "PUT" {
				h.Set("X-Amz-Acl", "public-read")
			}
			body := []byte(s3Bodies(tg.bucket, v.key)[rt.Op])
			if rt.Op == "PostObject" {
				h.Set("Content-Type", "multipart/form-data; boundary="+formBoundary)
			}
			if rt.Op == "DeleteObjects" {
				sum := md5.Sum(body)
				h.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
			}
			r := e.S3(creds, rt.Method, path, query, h, body)
			n.requests++
			n.statuses[r.Status]++
			what := fmt.Sprintf("S3 %s (%s %s?%s)", rt.Op, rt.Method, path, query)
			if msg := judgeS3(r.Status, rt.Op, in == nil); msg != "" {
				t.Errorf("%s: %s: %.300s", what, msg, r.Body)
			}
			leaks(t, what+" "+h.Get(rt.Header), r, secrets)
		}
	}
}

func judgeS3(status int, op string, anonymous bool) string {
	switch {
	case status >= 500 && status != 501:
		return fmt.Sprintf("server error %d", status)
	case op == "ListBuckets" && !anonymous:
		if status == 200 {
			return ""
		}
	case op == "CreateBucket" && status == 409:
		// Bucket names are one namespace: the name is taken, as S3 says.
		return ""
	case status == 403 || status == 404 || status == 405 || status == 501:
		return ""
	}
	return fmt.Sprintf("answered %d", status)
}
