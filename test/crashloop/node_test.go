package crashloop

import (
	"strings"

	"github.com/stowage/stowage/internal/testenv"
)

type item struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	State      string `json:"state"`
	Kind       string `json:"kind"`
	ResourceID string `json:"resource_id"`
}

// list reads every page of a native list.
func list(n *testenv.Node, path string) []item {
	n.T.Helper()
	var out []item
	cursor := ""
	for {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		var l struct {
			Items []item `json:"items"`
			Next  string `json:"next_cursor"`
		}
		n.Must("GET", path+sep+"limit=1000&cursor="+cursor, nil, &l)
		out = append(out, l.Items...)
		if l.Next == "" {
			return out
		}
		cursor = l.Next
	}
}
