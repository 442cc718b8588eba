package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"

	"github.com/stowage/stowage/internal/bytesize"
)

func (a *app) cpCmd() *cobra.Command {
	var project, partSize string
	var recursive bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "cp SOURCE DEST",
		Short: "Copy files to and from buckets: parallel parts, a progress bar, resumable",
		Long: `Copy a local file to s3://BUCKET/KEY or back; with -r, a directory to a prefix or a
prefix to a directory. A DEST ending in / (or an existing directory) keeps the source's name.

Files of --part-size or more move in parts, --parallel at a time; smaller files move whole,
--parallel files at a time. An interrupted copy resumes when run again: an upload continues
the unfinished multipart upload of the same key and skips the parts already there, a
download continues NAME.<tag>.part, whose tag ties it to the object's ETag (a changed
object starts over). Uploads send each part's MD5 for the server to check; a download of
an object uploaded in one piece is checked against its MD5 ETag.

When standard error is a terminal a progress bar shows bytes, rate and time left, and says
"completing…" while the server assembles a multipart upload; it counts only what this run
moves, as the rate in the summary that replaces it does. The project's S3 key is made on
first use and cached in the config file (mode 0600).`,
		Example: `  stowage cp ./backup.tar s3://photos/2024/
  stowage cp s3://photos/2024/backup.tar /tmp/
  stowage cp -r ./site s3://www/ --parallel 8
  stowage cp -r s3://www/assets ./assets --json`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ps, err := bytesize.Parse(partSize)
			if err != nil {
				return usageError{fmt.Errorf("--part-size: %w", err)}
			}
			if ps < minPartSize {
				return usageError{fmt.Errorf("--part-size must be at least %s, S3's smallest part", bytesize.Format(minPartSize))}
			}
			if parallel < 1 || parallel > 64 {
				return usageError{errors.New("--parallel must be between 1 and 64")}
			}
			src, srcRemote, err := parseS3URI(argv[0])
			if err != nil {
				return err
			}
			dst, dstRemote, err := parseS3URI(argv[1])
			if err != nil {
				return err
			}
			if srcRemote == dstRemote {
				return usageError{errors.New("one of SOURCE and DEST must be s3://BUCKET/KEY and the other a local path")}
			}
			var jobs []copyJob
			if dstRemote {
				if jobs, err = planUpload(argv[0], dst, recursive); err != nil {
					return err
				}
			} else if !recursive && (src.Key == "" || strings.HasSuffix(src.Key, "/")) {
				return usageError{fmt.Errorf("%s names no object: copy a prefix with -r", src)}
			}
			ctx := cmd.Context()
			return a.onBucket(cmd, project, src.Bucket+dst.Bucket, func(cl *s3.Client) error {
				jobs := jobs
				if !dstRemote {
					var err error
					if jobs, err = planDownload(ctx, cl, src, argv[1], recursive); err != nil {
						return err
					}
				}
				var total int64
				for _, j := range jobs {
					total += j.size
				}
				verb := map[bool]string{true: "upload", false: "download"}[dstRemote]
				desc := verb + " " + filepath.Base(jobs[0].local)
				if len(jobs) > 1 {
					desc = fmt.Sprintf("%s %d files", verb, len(jobs))
				}
				t := &transfer{s3: cl, partSize: ps, parallel: parallel, m: newMeter(a.stderr, total, desc, !a.quiet)}
				results, err := t.run(ctx, jobs, dstRemote)
				t.m.done(err == nil)
				if err != nil {
					return err
				}
				moved, took := t.m.summary()
				return a.printCopied(verb, results, moved, took)
			})
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy a directory or every object under a prefix")
	cmd.Flags().StringVar(&project, "project", "", "the bucket's project (default: found among yours)")
	cmd.Flags().StringVar(&partSize, "part-size", "8M", "move files this large or larger in parts of this size")
	cmd.Flags().IntVar(&parallel, "parallel", 4, "parts (or small files) in flight at once")
	return cmd
}

// printCopied reports a finished cp: a line per file, then the total and
// the rate at which this run moved its bytes (those an earlier run had
// moved do not count).
func (a *app) printCopied(verb string, rs []result, moved int64, took time.Duration) error {
	var bytes int64
	for _, r := range rs {
		bytes += r.Bytes
	}
	switch {
	case a.json:
		return a.out().printJSON(struct {
			Files   []result `json:"files"`
			Bytes   int64    `json:"bytes"`
			Seconds float64  `json:"seconds"`
		}{rs, bytes, took.Seconds()})
	case a.quiet:
		for _, r := range rs {
			fmt.Fprintln(a.stdout, r.Dest)
		}
		return nil
	}
	for _, r := range rs {
		detail := bytesize.Format(r.Bytes)
		if r.Parts > 1 {
			detail += ", " + plural(int64(r.Parts), "part")
		}
		if r.Resumed > 0 {
			detail += ", resumed after " + bytesize.Format(r.Resumed)
		}
		fmt.Fprintf(a.stdout, "%s: %s → %s (%s)\n", verb, r.Source, r.Dest, detail)
	}
	_, err := fmt.Fprintf(a.stdout, "done: %s, %s in %s (%s)\n", plural(int64(len(rs)), "file"), bytesize.Format(bytes), took.Round(time.Millisecond), rate(moved, took))
	return err
}

// planUpload lists what an upload moves: one file, or with recursive
// every regular file under a directory, keyed by its path below it.
func planUpload(local string, dst s3URI, recursive bool) ([]copyJob, error) {
	st, err := os.Stat(local)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if dst.Key == "" || strings.HasSuffix(dst.Key, "/") {
			dst.Key += filepath.Base(local)
		}
		return []copyJob{{local: local, remote: dst, size: st.Size()}}, nil
	}
	if !recursive {
		return nil, usageError{fmt.Errorf("%s is a directory: copy it with -r", local)}
	}
	prefix := dirPrefix(dst.Key)
	var jobs []copyJob
	err = filepath.WalkDir(local, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Symbolic links are followed to files, as cp does; links to
		// directories are not walked, so a loop cannot trap the walk.
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(local, path)
		if err != nil {
			return err
		}
		jobs = append(jobs, copyJob{local: path, remote: s3URI{Bucket: dst.Bucket, Key: prefix + filepath.ToSlash(rel)}, size: st.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%s holds no files", local)
	}
	return jobs, nil
}

// planDownload lists what a download moves: one object (the caller made
// sure src names one), or with recursive every object under a prefix,
// placed by its key below the prefix. A key that would land outside the
// directory is refused.
func planDownload(ctx context.Context, cl *s3.Client, src s3URI, local string, recursive bool) ([]copyJob, error) {
	if !recursive {
		head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &src.Bucket, Key: &src.Key})
		if err != nil {
			return nil, s3Err("download "+src.String(), err)
		}
		if st, err := os.Stat(local); (err == nil && st.IsDir()) || strings.HasSuffix(local, string(filepath.Separator)) {
			local = filepath.Join(local, filepath.Base(filepath.FromSlash(src.Key)))
		}
		return []copyJob{{local: local, remote: src, size: aws.ToInt64(head.ContentLength)}}, nil
	}
	prefix := dirPrefix(src.Key)
	objs, err := listAll(ctx, cl, s3URI{Bucket: src.Bucket, Key: prefix})
	if err != nil {
		return nil, err
	}
	var jobs []copyJob
	for _, o := range objs {
		key := aws.ToString(o.Key)
		rel := strings.TrimPrefix(key, prefix)
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue // a folder marker
		}
		if !filepath.IsLocal(filepath.FromSlash(rel)) {
			return nil, fmt.Errorf("refusing s3://%s/%s: its key would place it outside %s", src.Bucket, key, local)
		}
		jobs = append(jobs, copyJob{local: filepath.Join(local, filepath.FromSlash(rel)), remote: s3URI{Bucket: src.Bucket, Key: key},
			size: aws.ToInt64(o.Size)})
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("no objects under s3://%s/%s", src.Bucket, prefix)
	}
	return jobs, nil
}

// dirPrefix treats a key given to a recursive command as a folder, so that
// "photos" means photos/… and never photos-old/….
func dirPrefix(key string) string {
	if key == "" || strings.HasSuffix(key, "/") {
		return key
	}
	return key + "/"
}

// listAll lists every object under u's key, with no delimiter.
func listAll(ctx context.Context, cl *s3.Client, u s3URI) ([]types.Object, error) {
	var out []types.Object
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: &u.Bucket, Prefix: &u.Key})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s3Err("list "+u.String(), err)
		}
		out = append(out, page.Contents...)
	}
	return out, nil
}

// objectJSON is an object as ls --json prints it.
type objectJSON struct {
	Key          string `json:"key"`
	Size         int64  `json:"size"`
	LastModified string `json:"last_modified"`
	ETag         string `json:"etag"`
}

func (a *app) lsCmd() *cobra.Command {
	var project string
	var recursive bool
	cmd := &cobra.Command{
		Use:   "ls [s3://BUCKET[/PREFIX]]",
		Short: "List buckets, or the objects and folders under a prefix",
		Long: `Without an argument, list the project's buckets with their usage (as bucket ls does).
With s3://BUCKET/PREFIX, list the objects under PREFIX and, as folders (PRE), the next level
of keys ending in /; with -r, every object under PREFIX.`,
		Example: `  stowage ls
  stowage ls s3://photos/2024/
  stowage ls -r s3://photos --json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if len(argv) == 0 {
				return a.listBuckets(cmd, project)
			}
			u, ok, err := parseS3URI(argv[0])
			if err != nil {
				return err
			}
			if !ok {
				return usageError{fmt.Errorf("%q is not s3://BUCKET[/PREFIX]", argv[0])}
			}
			return a.onBucket(cmd, project, u.Bucket, func(cl *s3.Client) error {
				in := &s3.ListObjectsV2Input{Bucket: &u.Bucket, Prefix: &u.Key}
				if !recursive {
					in.Delimiter = aws.String("/")
				}
				out := struct {
					Prefixes []string     `json:"prefixes"`
					Objects  []objectJSON `json:"objects"`
				}{[]string{}, []objectJSON{}}
				var rows []row
				p := s3.NewListObjectsV2Paginator(cl, in)
				for p.HasMorePages() {
					page, err := p.NextPage(cmd.Context())
					if err != nil {
						return s3Err("list "+u.String(), err)
					}
					for _, cp := range page.CommonPrefixes {
						out.Prefixes = append(out.Prefixes, aws.ToString(cp.Prefix))
						rows = append(rows, row{id: aws.ToString(cp.Prefix), fields: []string{"-", "PRE", aws.ToString(cp.Prefix)}})
					}
					for _, o := range page.Contents {
						mod := aws.ToTime(o.LastModified).UTC().Format(time.RFC3339)
						out.Objects = append(out.Objects, objectJSON{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: mod, ETag: unquote(o.ETag)})
						rows = append(rows, row{id: aws.ToString(o.Key), fields: []string{mod, bytesize.Format(aws.ToInt64(o.Size)), aws.ToString(o.Key)}})
					}
				}
				return a.out().list(out, []string{"MODIFIED", "SIZE", "KEY"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "the bucket's project (default: found among yours)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object under the prefix, not just one level")
	return cmd
}

func (a *app) rmCmd() *cobra.Command {
	var project string
	var recursive bool
	cmd := &cobra.Command{
		Use:   "rm s3://BUCKET/KEY...",
		Short: "Delete objects, or with -r everything under a prefix",
		Long: `Delete objects. A key that does not exist is an error, as rm's is. With -r, the argument
is a folder: s3://photos/2024 deletes every object under 2024/ (never 2024-old/…), and
s3://photos deletes every object in the bucket, leaving the bucket.`,
		Example: `  stowage rm s3://photos/cat.jpg
  stowage rm -r s3://photos/2024`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			var us []s3URI
			for _, arg := range argv {
				u, ok, err := parseS3URI(arg)
				if err != nil {
					return err
				}
				if !ok {
					return usageError{fmt.Errorf("%q is not s3://BUCKET/KEY", arg)}
				}
				if !recursive && (u.Key == "" || strings.HasSuffix(u.Key, "/")) {
					return usageError{fmt.Errorf("%s names no object: delete a prefix with -r", u)}
				}
				us = append(us, u)
			}
			deleted := []string{}
			for _, u := range us {
				err := a.onBucket(cmd, project, u.Bucket, func(cl *s3.Client) error {
					keys, err := a.toDelete(cmd, cl, u, recursive)
					if err != nil {
						return err
					}
					for len(keys) > 0 {
						batch := keys[:min(len(keys), 1000)]
						keys = keys[len(batch):]
						ids := make([]types.ObjectIdentifier, len(batch))
						for i := range batch {
							ids[i] = types.ObjectIdentifier{Key: &batch[i]}
						}
						out, err := cl.DeleteObjects(cmd.Context(), &s3.DeleteObjectsInput{Bucket: &u.Bucket, Delete: &types.Delete{Objects: ids}})
						if err != nil {
							return s3Err("delete under "+u.String(), err)
						}
						if len(out.Errors) > 0 {
							e := out.Errors[0]
							return fmt.Errorf("delete s3://%s/%s: %s (%s)", u.Bucket, aws.ToString(e.Key), aws.ToString(e.Message), aws.ToString(e.Code))
						}
						for _, d := range out.Deleted {
							deleted = append(deleted, s3URI{Bucket: u.Bucket, Key: aws.ToString(d.Key)}.String())
						}
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
			if a.json {
				return a.out().printJSON(struct {
					Deleted []string `json:"deleted"`
				}{deleted})
			}
			for _, d := range deleted {
				fmt.Fprintln(a.stdout, d)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "the bucket's project (default: found among yours)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "delete every object under the prefix")
	return cmd
}

// toDelete lists the keys rm removes; finding none is an error.
func (a *app) toDelete(cmd *cobra.Command, cl *s3.Client, u s3URI, recursive bool) ([]string, error) {
	if !recursive {
		if _, err := cl.HeadObject(cmd.Context(), &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key}); err != nil {
			return nil, s3Err("delete "+u.String(), err)
		}
		return []string{u.Key}, nil
	}
	prefix := s3URI{Bucket: u.Bucket, Key: dirPrefix(u.Key)}
	objs, err := listAll(cmd.Context(), cl, prefix)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no objects under %s", prefix)
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = aws.ToString(o.Key)
	}
	return keys, nil
}

func (a *app) presignCmd() *cobra.Command {
	var project string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "presign s3://BUCKET/KEY [--expires 1h]",
		Short: "Print a URL that lets anyone holding it download one object for a while",
		Long: `Print a presigned GET URL for an object: whoever holds it can download the object, and
nothing else, until it expires (at most 7 days, SigV4's limit). The object must exist.`,
		Example: `  stowage presign s3://photos/cat.jpg
  curl -o cat.jpg "$(stowage presign s3://photos/cat.jpg --expires 10m)"`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if expires <= 0 || expires > 7*24*time.Hour {
				return usageError{errors.New("--expires must be more than 0 and at most 168h (7 days)")}
			}
			u, ok, err := parseS3URI(argv[0])
			if err != nil {
				return err
			}
			if !ok || u.Key == "" || strings.HasSuffix(u.Key, "/") {
				return usageError{fmt.Errorf("%q is not s3://BUCKET/KEY", argv[0])}
			}
			return a.onBucket(cmd, project, u.Bucket, func(cl *s3.Client) error {
				in := &s3.GetObjectInput{Bucket: &u.Bucket, Key: &u.Key}
				if _, err := cl.HeadObject(cmd.Context(), &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key}); err != nil {
					return s3Err("presign "+u.String(), err)
				}
				req, err := s3.NewPresignClient(cl).PresignGetObject(cmd.Context(), in, s3.WithPresignExpires(expires))
				if err != nil {
					return fmt.Errorf("presign %s: %w", u, err)
				}
				until := time.Now().Add(expires).UTC().Format(time.RFC3339)
				if a.json {
					return a.out().printJSON(struct {
						URL       string `json:"url"`
						ExpiresAt string `json:"expires_at"`
					}{req.URL, until})
				}
				_, err = fmt.Fprintln(a.stdout, req.URL)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "the bucket's project (default: found among yours)")
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "how long the URL works")
	return cmd
}
