package cloudsigma

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestOrValues(t *testing.T) {
	for in, want := range map[string][]string{
		`n1,n2`:              {"n1", "n2"},
		`one`:                {"one"},
		`name\,long\\,name2`: {`name,long\`, "name2"},
		`a\b`:                {`a\b`},
		`trailing,`:          {"trailing", ""},
		`\\\,x`:              {`\,x`},
	} {
		if got := orValues(in); !reflect.DeepEqual(got, want) {
			t.Errorf("orValues(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDropTrailingCommas(t *testing.T) {
	for in, want := range map[string]string{
		`{"objects": [{"uuid": "a",}, {"uuid": "b",},]}`: `{"objects": [{"uuid": "a"}, {"uuid": "b"}]}`,
		`{"s": ",}", "t": "\",]"}`:                       `{"s": ",}", "t": "\",]"}`,
		"[1,\n  ]":                                       "[1\n  ]",
	} {
		if got := string(dropTrailingCommas([]byte(in))); got != want {
			t.Errorf("dropTrailingCommas(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDropTrailingCommas: valid JSON keeps its meaning.
func FuzzDropTrailingCommas(f *testing.F) {
	f.Add(`{"a": [1, 2, {"b": ",]"}], "c": "\\",}`)
	f.Add(`[",", ",}", "\u002c]"]`)
	f.Fuzz(func(t *testing.T, s string) {
		var before any
		if json.Unmarshal([]byte(s), &before) != nil {
			return
		}
		var after any
		if err := json.Unmarshal(dropTrailingCommas([]byte(s)), &after); err != nil || !reflect.DeepEqual(before, after) {
			t.Fatalf("%q changed: %v (%v) vs %v", s, after, err, before)
		}
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		`1073741824`: 1073741824, `"1024000000"`: 1024000000, `1207959631`: 1207975936, `1073741824.0`: 1073741824, `1`: 16384,
	} {
		got, err := parseSize(json.RawMessage(in))
		if err != nil || got != want {
			t.Errorf("parseSize(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{`"x"`, `-5`, `0`, `1.5`, `true`, `null`} {
		if _, err := parseSize(json.RawMessage(in)); err == nil {
			t.Errorf("parseSize(%s) accepted", in)
		}
	}
}

func TestStateErrorWording(t *testing.T) {
	if got := stateError("resize", "creating", "unmounted", "mounted").errs[0].Message; got != `Cannot resize drive in state "creating". Drive should be in state "['unmounted', 'mounted']"` {
		t.Errorf("two states: %s", got)
	}
	if got := stateError("delete", "resizing", "unmounted").errs[0].Message; got != `Cannot delete drive in state "resizing". Drive should be in state "unmounted"` {
		t.Errorf("one state: %s", got)
	}
}
