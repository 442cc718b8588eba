package bucket

import "testing"

func TestNotificationRuleWants(t *testing.T) {
	r := NotificationRule{Events: []string{"s3:ObjectCreated:*", "s3:ObjectRemoved:DeleteMarkerCreated"}, Prefix: "in/", Suffix: ".txt"}
	for _, c := range []struct {
		event, key string
		want       bool
	}{
		{EventPut, "in/a.txt", true},
		{EventComplete, "in/a.txt", true},
		{EventPut, "in/a.bin", false},
		{EventPut, "out/a.txt", false},
		{EventRemoved + RemovedMarker, "in/a.txt", true},
		{EventRemoved + RemovedDelete, "in/a.txt", false},
		{EventExpired + RemovedDelete, "in/a.txt", false},
	} {
		if got := r.Wants(c.event, c.key); got != c.want {
			t.Errorf("Wants(%s, %s) = %v", c.event, c.key, got)
		}
	}
}

func TestNotificationRulesOverlap(t *testing.T) {
	rule := func(prefix, suffix string, events ...string) NotificationRule {
		return NotificationRule{Events: events, Prefix: prefix, Suffix: suffix}
	}
	for _, c := range []struct {
		a, b NotificationRule
		want bool
	}{
		{rule("a/", "", "s3:ObjectCreated:*"), rule("a/b", "", "s3:ObjectCreated:Put"), true},
		{rule("a/", "", "s3:ObjectCreated:*"), rule("b/", "", "s3:ObjectCreated:*"), false},
		{rule("", ".jpg", "s3:ObjectCreated:Put"), rule("", ".png", "s3:ObjectCreated:Put"), false},
		{rule("", "", "s3:ObjectCreated:Put"), rule("", "", "s3:ObjectCreated:Copy"), false},
		{rule("", "", "s3:ObjectCreated:*"), rule("", "", "s3:ObjectRemoved:*"), false},
		{rule("x", "", "s3:ObjectRemoved:Delete"), rule("", "", "s3:ObjectRemoved:Delete"), true},
	} {
		if got := c.a.Overlaps(c.b); got != c.want || c.b.Overlaps(c.a) != got {
			t.Errorf("%+v overlaps %+v = %v", c.a, c.b, got)
		}
	}
}

func TestEventKey(t *testing.T) {
	for key, want := range map[string]string{"a b/c+d.txt": "a+b/c%2Bd.txt", "dir/é": "dir/%C3%A9", "x//y": "x//y"} {
		if got := EventKey(key); got != want {
			t.Errorf("EventKey(%q) = %q, want %q", key, got, want)
		}
	}
}
