package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/bytesize"
	"github.com/stowage/stowage/internal/client"
)

// candidates fetches what a shell may complete: "value\tdescription"
// lines, as cobra takes them.
type candidates func(ctx context.Context, c *client.Client, cmd *cobra.Command) ([]string, error)

// completeArgs completes each positional argument with its own candidates,
// and nothing past the last.
func (a *app) completeArgs(lists ...candidates) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, argv []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(argv) >= len(lists) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return a.complete(cmd, lists[len(argv)])
	}
}

// completeEach completes every argument of a command that takes many of
// one kind (rm ID...).
func (a *app) completeEach(list candidates) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		return a.complete(cmd, list)
	}
}

// completeFlag registers list as the completion of a flag on every
// command below c that has it.
func (a *app) completeFlag(c *cobra.Command, flag string, list candidates) {
	if c.LocalNonPersistentFlags().Lookup(flag) != nil {
		c.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			return a.complete(cmd, list)
		})
	}
	for _, sub := range c.Commands() {
		a.completeFlag(sub, flag, list)
	}
}

// complete asks the server, briefly: a shell waits for the answer, so a
// server that is slow or down completes nothing rather than hanging it.
func (a *app) complete(cmd *cobra.Command, list candidates) ([]string, cobra.ShellCompDirective) {
	c, err := a.client()
	if err != nil {
		cobra.CompDebugln(err.Error(), true)
		return nil, cobra.ShellCompDirectiveError
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	out, err := list(ctx, c, cmd)
	if err != nil {
		cobra.CompDebugln(err.Error(), true)
		return nil, cobra.ShellCompDirectiveError
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// listed completes with every item of a list endpoint.
func listed[T any](path string, line func(T) string) candidates {
	return func(ctx context.Context, c *client.Client, _ *cobra.Command) ([]string, error) {
		items, err := client.All[T](ctx, c, path, nil)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = line(it)
		}
		return out, nil
	}
}

// projectFlag is the --project the command line gave so far, if any.
func projectFlag(cmd *cobra.Command) string {
	p, _ := cmd.Flags().GetString("project")
	return p
}

// bucketNames completes bucket names: those of --project, or of every
// project the caller sees.
func bucketNames(ctx context.Context, c *client.Client, cmd *cobra.Command) ([]string, error) {
	projects := []string{projectFlag(cmd)}
	if projects[0] == "" {
		ps, err := client.All[client.Project](ctx, c, "/api/v1/projects", nil)
		if err != nil {
			return nil, err
		}
		projects = projects[:0]
		for _, p := range ps {
			projects = append(projects, p.ID)
		}
	}
	var out []string
	for _, p := range projects {
		bs, err := client.All[client.Bucket](ctx, c, "/api/v1/projects/"+url.PathEscape(p)+"/buckets", nil)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			out = append(out, b.Name+"\t"+bytesize.Format(b.SizeBytes)+" in "+plural(b.ObjectCount, "object"))
		}
	}
	return out, nil
}

// accessKeys completes the S3 keys of --project, or of the only project.
func (a *app) accessKeys(ctx context.Context, c *client.Client, cmd *cobra.Command) ([]string, error) {
	project, err := a.projectOrOnly(cmd, c, projectFlag(cmd))
	if err != nil {
		return nil, err
	}
	return listed("/api/v1/projects/"+url.PathEscape(project)+"/credentials", func(cr client.Credential) string {
		return cr.AccessKeyID + "\t" + orDash(cr.Description)
	})(ctx, c, cmd)
}

// kmsKeys completes the SSE-KMS keys of --project, or of the only project.
func (a *app) kmsKeys(ctx context.Context, c *client.Client, cmd *cobra.Command) ([]string, error) {
	project, err := a.projectOrOnly(cmd, c, projectFlag(cmd))
	if err != nil {
		return nil, err
	}
	return listed("/api/v1/projects/"+url.PathEscape(project)+"/kms-keys", func(k client.KMSKey) string {
		return k.ID + "\t" + k.State + " " + orDash(k.Alias)
	})(ctx, c, cmd)
}

// notificationTargets completes the webhooks of --project, or of the
// only project.
func (a *app) notificationTargets(ctx context.Context, c *client.Client, cmd *cobra.Command) ([]string, error) {
	project, err := a.projectOrOnly(cmd, c, projectFlag(cmd))
	if err != nil {
		return nil, err
	}
	return listed("/api/v1/projects/"+url.PathEscape(project)+"/notification-targets", func(t client.NotificationTarget) string {
		return t.Name + "\t" + t.URL
	})(ctx, c, cmd)
}

// completeS3 completes an s3:// argument with the buckets, as
// s3://NAME/ for the key to follow; with localToo (cp) anything not begun
// as s3: completes as a local file.
func (a *app) completeS3(localToo bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch {
		case localToo && !strings.HasPrefix(toComplete, "s3:"):
			// Nothing typed yet could be either: files, which shells
			// cannot mix with other candidates, until "s3:" says which.
			return nil, cobra.ShellCompDirectiveDefault
		case !strings.HasPrefix(toComplete, "s3://") && !strings.HasPrefix("s3://", toComplete):
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, dir := a.complete(cmd, bucketNames)
		if dir == cobra.ShellCompDirectiveError {
			return nil, dir
		}
		out := make([]string, len(names))
		for i, n := range names {
			name, desc, _ := strings.Cut(n, "\t")
			out[i] = "s3://" + name + "/\t" + desc
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// registerCompletions teaches the shell the ids and names the server
// knows, for arguments and flags alike.
func (a *app) registerCompletions(root *cobra.Command) {
	find := func(path string) *cobra.Command {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) > 0 {
			panic(fmt.Sprintf("completion for %q: no such command", path))
		}
		return c
	}
	volumeIDs := listed("/api/v1/volumes", func(v client.Volume) string { return v.ID + "\t" + v.Name + " (" + v.Status + ")" })
	snapshotIDs := listed("/api/v1/snapshots", func(s client.Snapshot) string { return s.ID + "\t" + s.Name + " of " + s.VolumeID })
	instanceIDs := listed("/api/v1/instances", func(in client.Instance) string { return in.ID + "\t" + in.Name })
	volumeTypes := listed("/api/v1/volume-types", func(t client.VolumeType) string { return t.Name + "\t" + t.Kind })
	projectIDs := listed("/api/v1/projects", func(p client.Project) string { return p.ID + "\t" + p.Name })
	orgIDs := listed("/api/v1/organisations", func(o client.Organisation) string { return o.ID + "\t" + o.Name })
	jobIDs := listed("/api/v1/jobs", func(j client.Job) string { return j.ID + "\t" + j.Kind + " " + j.State })
	orderIDs := listed("/api/v1/orders", func(o client.Order) string { return o.ID + "\t" + o.Type + " " + o.State })
	tokenIDs := listed("/api/v1/tokens", func(t client.Token) string { return t.ID + "\t" + orDash(t.Name) })
	byPath := map[string]func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective){
		"volume show":            a.completeArgs(volumeIDs),
		"volume rm":              a.completeEach(volumeIDs),
		"volume extend":          a.completeArgs(volumeIDs),
		"volume retype":          a.completeArgs(volumeIDs, volumeTypes),
		"volume attach":          a.completeArgs(volumeIDs, instanceIDs),
		"volume detach":          a.completeArgs(volumeIDs, instanceIDs),
		"volume snapshot":        a.completeArgs(volumeIDs),
		"volume clone":           a.completeArgs(volumeIDs),
		"volume connect":         a.completeArgs(volumeIDs),
		"snapshot show":          a.completeArgs(snapshotIDs),
		"snapshot restore":       a.completeArgs(snapshotIDs),
		"snapshot rm":            a.completeEach(snapshotIDs),
		"instance rm":            a.completeEach(instanceIDs),
		"bucket show":            a.completeArgs(bucketNames),
		"bucket public":          a.completeArgs(bucketNames),
		"bucket private":         a.completeArgs(bucketNames),
		"bucket rm":              a.completeArgs(bucketNames),
		"credential rm":          a.completeEach(a.accessKeys),
		"kms show":               a.completeArgs(a.kmsKeys),
		"kms disable":            a.completeArgs(a.kmsKeys),
		"kms enable":             a.completeArgs(a.kmsKeys),
		"kms rm":                 a.completeArgs(a.kmsKeys),
		"kms restore":            a.completeArgs(a.kmsKeys),
		"notification-target rm": a.completeEach(a.notificationTargets),
		"project show":           a.completeArgs(projectIDs),
		"job show":               a.completeArgs(jobIDs),
		"job wait":               a.completeArgs(jobIDs),
		"order show":             a.completeArgs(orderIDs),
		"order approve":          a.completeArgs(orderIDs),
		"order approve-provider": a.completeArgs(orderIDs),
		"order reject":           a.completeArgs(orderIDs),
		"order cancel":           a.completeArgs(orderIDs),
		"token rm":               a.completeEach(tokenIDs),
		"ls":                     a.completeS3(false),
		"rm":                     a.completeS3(false),
		"presign":                a.completeS3(false),
		"cp":                     a.completeS3(true),
	}
	for path, f := range byPath {
		find(path).ValidArgsFunction = f
	}
	a.completeFlag(root, "project", projectIDs)
	a.completeFlag(root, "organisation", orgIDs)
	a.completeFlag(root, "type", volumeTypes)
	a.completeFlag(root, "from-volume", volumeIDs)
	a.completeFlag(root, "from-snapshot", snapshotIDs)
	a.completeFlag(find("snapshot ls"), "volume", volumeIDs)
}

// bashWithoutPackage makes cobra's bash script work without the
// bash-completion package: the only thing it takes from it is
// _get_comp_words_by_ref, which the script's fallback calls regardless.
// Without the package, the words come from the line up to the cursor split
// on blanks, as _get_comp_words_by_ref -n =: splits them (s3://b/k and
// --flag=value stay whole).
func bashWithoutPackage(completion *cobra.Command) {
	bash, _, err := completion.Find([]string{"bash"})
	if err != nil || bash == completion {
		panic("cobra's completion command has no bash subcommand")
	}
	bash.Long = `Print the bash completion script. It works in bash 4.1 or later, with or without the
bash-completion package.

To load completions in the current shell:

	source <(stowage completion bash)

To load them in every new shell, once:

	stowage completion bash > ~/.local/share/bash-completion/completions/stowage   # with bash-completion
	echo 'source <(stowage completion bash)' >> ~/.bashrc                            # without it
`
	bash.RunE = func(cmd *cobra.Command, _ []string) error {
		noDesc, _ := cmd.Flags().GetBool("no-descriptions")
		var b bytes.Buffer
		if err := cmd.Root().GenBashCompletionV2(&b, !noDesc); err != nil {
			return err
		}
		const call = "    _get_comp_words_by_ref \"$@\" cur prev words cword\n"
		script := b.String()
		if strings.Count(script, call) != 1 {
			return errors.New("cobra's bash completion script changed: cannot make it work without bash-completion")
		}
		script = strings.Replace(script, call, `    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref "$@" cur prev words cword
        return
    fi
    local line=${COMP_LINE:0:COMP_POINT}
    read -ra words <<< "$line"
    if [[ ${#words[@]} -eq 0 || $line == *[[:space:]] ]]; then
        words+=("")
    fi
    cword=$(( ${#words[@]} - 1 ))
    cur=${words[cword]}
    prev=${words[cword-1]}
`, 1)
		_, err := cmd.OutOrStdout().Write([]byte(script))
		return err
	}
}
