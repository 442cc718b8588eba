package cli

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/client"
)

func jobPairs(j client.Job) [][2]string {
	return [][2]string{{"id", j.ID}, {"kind", j.Kind}, {"state", j.State}, {"resource", j.ResourceType + " " + j.ResourceID},
		{"attempts", fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts)}, {"error", orDash(j.Error)}, {"created", j.CreatedAt},
		{"finished", ptrOrDash(j.FinishedAt)}}
}

func (a *app) jobCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Follow asynchronous work (provisioning, snapshots, resizes …)"}
	var state, kind string
	ls := &cobra.Command{
		Use: "ls", Short: "List jobs", Args: args(cobra.NoArgs),
		Example: "  stowage job ls --state running",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			if kind != "" {
				q.Set("kind", kind)
			}
			js, err := client.All[client.Job](cmd.Context(), c, "/api/v1/jobs", q)
			if err != nil {
				return err
			}
			rows := make([]row, 0, len(js))
			for _, j := range js {
				rows = append(rows, row{id: j.ID, fields: []string{j.ID, j.Kind, j.State, j.ResourceType + " " + j.ResourceID, orDash(j.Error)}})
			}
			return a.out().list(js, []string{"ID", "KIND", "STATE", "RESOURCE", "ERROR"}, rows)
		},
	}
	ls.Flags().StringVar(&state, "state", "", "queued, running, succeeded, failed or cancelled")
	ls.Flags().StringVar(&kind, "kind", "", "only jobs of this kind")
	show := &cobra.Command{
		Use: "show ID", Short: "Show one job", Example: "  stowage job show JOB_ID --json", Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var j client.Job
			if err := c.Do(cmd.Context(), "GET", "/api/v1/jobs/"+url.PathEscape(argv[0]), nil, nil, &j); err != nil {
				return err
			}
			return a.out().one(j, j.ID, jobPairs(j))
		},
	}
	var timeout time.Duration
	wait := &cobra.Command{
		Use: "wait ID", Short: "Wait for a job to finish; fails with the job's error", Args: args(cobra.ExactArgs(1)),
		Example: "  stowage job wait 0193… --timeout 10m",
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			j, err := waitJob(cmd, c, argv[0], timeout)
			if err != nil {
				return err
			}
			return a.out().one(j, j.ID, jobPairs(j))
		},
	}
	wait.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "give up after this long")
	cmd.AddCommand(ls, show, wait)
	return cmd
}

// waitJob polls a job until it is terminal; a failed or cancelled job is
// an error carrying the job's own message.
func waitJob(cmd *cobra.Command, c *client.Client, id string, timeout time.Duration) (client.Job, error) {
	deadline := time.Now().Add(timeout)
	delay := 100 * time.Millisecond
	for {
		var j client.Job
		if err := c.Do(cmd.Context(), "GET", "/api/v1/jobs/"+url.PathEscape(id), nil, nil, &j); err != nil {
			return j, err
		}
		switch j.State {
		case "succeeded":
			return j, nil
		case "failed", "cancelled":
			return j, fmt.Errorf("job %s %s: %s", j.ID, j.State, orDash(j.Error))
		}
		if time.Now().After(deadline) {
			return j, errors.New("timed out waiting for job " + id + " (still " + j.State + ")")
		}
		time.Sleep(delay)
		delay = min(delay*2, 2*time.Second)
	}
}
