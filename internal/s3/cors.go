package s3

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/stowage/stowage/internal/core/bucket"
)

// This file holds CORS: the bucket's rules (PUT/GET/DELETE ?cors), the
// unauthenticated OPTIONS preflight, and the Access-Control-* headers on
// actual requests that carry an Origin.

var (
	errNoCORS        = s3Code{"NoSuchCORSConfiguration", http.StatusNotFound}
	errCORSForbidden = s3Code{"AccessForbidden", http.StatusForbidden}
	errBadRequest    = s3Code{"BadRequest", http.StatusBadRequest}
)

type corsRuleXML struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	ExposeHeaders  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds  int      `xml:"MaxAgeSeconds,omitempty"`
}

type corsConfiguration struct {
	XMLName xml.Name      `xml:"CORSConfiguration"`
	Xmlns   string        `xml:"xmlns,attr,omitempty"`
	Rules   []corsRuleXML `xml:"CORSRule"`
}

const maxCORSRules = 100

func (h *Handler) putBucketCORS(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketCORS")
	if err != nil {
		return err
	}
	var in corsConfiguration
	if err := req.readXML(&in); err != nil {
		return err
	}
	if len(in.Rules) == 0 || len(in.Rules) > maxCORSRules {
		return apiErr(errMalformedXML, "a CORS configuration holds 1 to 100 rules")
	}
	rules := make([]bucket.CORSRule, 0, len(in.Rules))
	for _, r := range in.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return apiErr(errMalformedXML, "each CORS rule needs AllowedOrigin and AllowedMethod")
		}
		for _, m := range r.AllowedMethods {
			switch m {
			case "GET", "PUT", "POST", "DELETE", "HEAD":
			default:
				return apiErr(errInvalidRequest, "found unsupported HTTP method in CORS config: %s", m)
			}
		}
		rules = append(rules, bucket.CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	b.CORS = rules
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) getBucketCORS(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:GetBucketCORS")
	if err != nil {
		return err
	}
	if len(b.CORS) == 0 {
		return apiErr(errNoCORS, "the CORS configuration does not exist")
	}
	out := corsConfiguration{Xmlns: s3NS}
	for _, r := range b.CORS {
		out.Rules = append(out.Rules, corsRuleXML{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	return writeXML(w, http.StatusOK, out)
}

func (h *Handler) deleteBucketCORS(w http.ResponseWriter, req *request) error {
	b, err := h.bucketFor(req, "s3:PutBucketCORS")
	if err != nil {
		return err
	}
	b.CORS = nil
	if err := h.o.Meta.UpdateBucket(req.r.Context(), b); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// matchCORS returns the first rule allowing origin, method and every
// requested header, or nil.
func matchCORS(rules []bucket.CORSRule, origin, method string, headers []string) *bucket.CORSRule {
	for i := range rules {
		r := &rules[i]
		if !matchAny(r.AllowedOrigins, origin) {
			continue
		}
		ok := false
		for _, m := range r.AllowedMethods {
			ok = ok || m == method
		}
		if !ok {
			continue
		}
		for _, hd := range headers {
			allowed := false
			for _, p := range r.AllowedHeaders {
				allowed = allowed || wildcard(strings.ToLower(p), strings.ToLower(hd))
			}
			if !allowed {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// setCORSHeaders writes the Access-Control-* answer for a matched rule.
func setCORSHeaders(w http.ResponseWriter, r *bucket.CORSRule, origin string, requested []string) {
	hd := w.Header()
	allowOrigin := origin
	for _, o := range r.AllowedOrigins {
		if o == "*" {
			allowOrigin = "*"
		}
	}
	hd.Set("Access-Control-Allow-Origin", allowOrigin)
	hd.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(requested) > 0 {
		hd.Set("Access-Control-Allow-Headers", strings.Join(requested, ", "))
	}
	if len(r.ExposeHeaders) > 0 {
		hd.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds > 0 {
		hd.Set("Access-Control-Max-Age", strconv.Itoa(r.MaxAgeSeconds))
	}
	if allowOrigin != "*" {
		hd.Add("Vary", "Origin")
	}
}

func requestedHeaders(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// preflight answers OPTIONS. It is unauthenticated by design (browsers
// send no credentials on preflight), so it reveals only whether the rules
// allow the origin and method.
func (h *Handler) preflight(w http.ResponseWriter, req *request) error {
	origin := req.r.Header.Get("Origin")
	method := req.r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		return apiErr(errBadRequest, "insufficient information; Origin and Access-Control-Request-Method are required")
	}
	b, err := h.o.Meta.BucketConfig(req.r.Context(), req.bucket)
	if isNotExist(err) {
		return apiErr(errNoSuchBucket, "the specified bucket does not exist")
	}
	if err != nil {
		return err
	}
	requested := requestedHeaders(req.r)
	rule := matchCORS(b.CORS, origin, method, requested)
	if rule == nil {
		rule = h.consoleRule(origin)
	}
	if rule == nil {
		return apiErr(errCORSForbidden, "CORSResponse: this CORS request is not allowed; this is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec")
	}
	setCORSHeaders(w, rule, origin, requested)
	w.WriteHeader(http.StatusOK)
	return nil
}

// corsActual adds CORS headers to a non-preflight request with an Origin,
// whatever its outcome, so browsers can read error answers too.
func (h *Handler) corsActual(w http.ResponseWriter, req *request) {
	origin := req.r.Header.Get("Origin")
	if origin == "" || req.bucket == "" {
		return
	}
	if rule := h.consoleRule(origin); rule != nil {
		setCORSHeaders(w, rule, origin, nil)
		return
	}
	b, err := h.o.Meta.BucketConfig(req.r.Context(), req.bucket)
	if err != nil || len(b.CORS) == 0 {
		return
	}
	method := req.r.Header.Get("Access-Control-Request-Method")
	if method == "" {
		method = req.r.Method
	}
	if rule := matchCORS(b.CORS, origin, method, nil); rule != nil {
		setCORSHeaders(w, rule, origin, nil)
	}
}

// consoleRule is the rule the node's own console gets on every bucket
// (Options.ConsoleOrigin): uploads need PUT and POST, and the page reads
// each part's ETag to complete a multipart upload.
func (h *Handler) consoleRule(origin string) *bucket.CORSRule {
	if h.o.ConsoleOrigin == nil || !h.o.ConsoleOrigin(origin) {
		return nil
	}
	return &bucket.CORSRule{AllowedOrigins: []string{origin}, AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"},
		ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: 600}
}
