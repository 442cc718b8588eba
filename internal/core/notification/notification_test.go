package notification

import "testing"

func TestParseARN(t *testing.T) {
	a, ok := ParseARN(ARN("local-1", "p1", "hook"))
	if !ok || a != (ParsedARN{Kind: "Topic", Region: "local-1", ProjectID: "p1", Name: "hook"}) {
		t.Fatalf("round trip: %+v %v", a, ok)
	}
	if a, ok := ParseARN("arn:stowage:sqs:local-1:p1:hook"); !ok || a.Kind != "Queue" {
		t.Errorf("sqs: %+v %v", a, ok)
	}
	for _, bad := range []string{"", "arn:aws:sns:local-1:p1:hook", "arn:stowage:sns:local-1:p1", "arn:stowage:s3:local-1:p1:hook",
		"arn:stowage:sns::p1:hook", "arn:stowage:sns:local-1:p1:bad name", "arn:stowage:sns:local-1:p1:a:b"} {
		if _, ok := ParseARN(bad); ok {
			t.Errorf("ParseARN(%q) accepted", bad)
		}
	}
}
