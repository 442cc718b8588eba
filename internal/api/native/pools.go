package native

import (
	"net/http"
	"time"

	"github.com/stowage/stowage/internal/core/pool"
	"github.com/stowage/stowage/internal/httpapi"
)

// WithPools adds the operator's pool routes; like the volume routes they
// are in the table either way.
func (a *API) WithPools(p *pool.Service) *API {
	a.pools = p
	return a
}

type blockPoolJSON struct {
	CapacityBytes int64 `json:"capacity_bytes"`
	FreeBytes     int64 `json:"free_bytes"`
	ChunkSize     int64 `json:"chunk_size"`
	Volumes       int64 `json:"volumes"`
	Chunks        int64 `json:"chunks"`
	Pages         int64 `json:"pages"`
	UsedBytes     int64 `json:"used_bytes"`
	DiskBytes     int64 `json:"disk_bytes"`
}

type objectPoolJSON struct {
	CapacityBytes int64 `json:"capacity_bytes"`
	FreeBytes     int64 `json:"free_bytes"`
	Buckets       int64 `json:"buckets"`
	Objects       int64 `json:"objects"`
	ObjectBytes   int64 `json:"object_bytes"`
	Blobs         int64 `json:"blobs"`
	BlobBytes     int64 `json:"blob_bytes"`
	InlineObjects int64 `json:"inline_objects"`
	InlineBytes   int64 `json:"inline_bytes"`
}

type poolsJSON struct {
	Block  blockPoolJSON  `json:"block"`
	Object objectPoolJSON `json:"object"`
}

func (a *API) getPools(w http.ResponseWriter, r *http.Request) error {
	st, err := a.pools.Stats(r.Context(), httpapi.Principal(r.Context()))
	if err != nil {
		return err
	}
	b, o := st.Block, st.Object
	return httpapi.WriteJSON(w, http.StatusOK, poolsJSON{
		Block: blockPoolJSON{CapacityBytes: b.CapacityBytes, FreeBytes: b.FreeBytes, ChunkSize: b.ChunkSize, Volumes: b.Volumes,
			Chunks: b.Chunks, Pages: b.Pages, UsedBytes: b.UsedBytes, DiskBytes: b.DiskBytes},
		Object: objectPoolJSON{CapacityBytes: o.CapacityBytes, FreeBytes: o.FreeBytes, Buckets: o.Buckets, Objects: o.Objects,
			ObjectBytes: o.ObjectBytes, Blobs: o.Blobs, BlobBytes: o.BlobBytes,
			InlineObjects: o.InlineObjects, InlineBytes: o.InlineBytes},
	})
}

func (a *API) fsckBlockPool(w http.ResponseWriter, r *http.Request) error {
	rep, err := a.pools.FsckBlock(r.Context(), httpapi.Principal(r.Context()))
	if err != nil {
		return err
	}
	problems := rep.Problems
	if problems == nil {
		problems = []string{}
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct {
		Clean    bool     `json:"clean"`
		Volumes  int      `json:"volumes"`
		Pages    int      `json:"pages"`
		Chunks   int      `json:"chunks"`
		Problems []string `json:"problems"`
	}{len(problems) == 0, rep.Volumes, rep.Pages, rep.Chunks, problems})
}

// collectObjectGarbage takes an optional body: an empty one asks for the
// default minimum age.
func (a *API) collectObjectGarbage(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		MinAgeSeconds int64 `json:"min_age_seconds"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	// Clamped to about 270 years so that the conversion cannot overflow.
	age := time.Duration(min(in.MinAgeSeconds, 1<<33)) * time.Second
	rep, err := a.pools.CollectGarbage(r.Context(), httpapi.Principal(r.Context()), age)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct {
		Removed int    `json:"removed"`
		Cutoff  string `json:"cutoff"`
	}{rep.Removed, stamp(rep.Cutoff)})
}
