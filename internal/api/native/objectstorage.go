package native

import (
	"net/http"

	"github.com/stowage/stowage/internal/core/bucket"
	"github.com/stowage/stowage/internal/core/objectstorage"
	"github.com/stowage/stowage/internal/httpapi"
)

type bucketJSON struct {
	Name        string `json:"name"`
	ProjectID   string `json:"project_id"`
	ServiceID   string `json:"service_id,omitempty"`
	Region      string `json:"region"`
	Tier        string `json:"tier"`
	Public      bool   `json:"public"`
	SizeBytes   int64  `json:"size_bytes"`
	ObjectCount int64  `json:"object_count"`
	CreatedAt   string `json:"created_at"`
}

func bucketOut(b bucket.Bucket) bucketJSON {
	return bucketJSON{Name: b.Name, ProjectID: b.ProjectID, ServiceID: b.ServiceID, Region: b.Region, Tier: b.Tier,
		Public: b.ACL == bucket.ACLPublicRead, SizeBytes: b.Bytes, ObjectCount: b.Objects, CreatedAt: stamp(b.Created)}
}

type credentialJSON struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	ProjectID       string `json:"project_id"`
	ServiceID       string `json:"service_id,omitempty"`
	Description     string `json:"description"`
	Endpoint        string `json:"endpoint_url"`
	CreatedAt       string `json:"created_at"`
}

func (a *API) credentialOut(c bucket.Credential, secret string) credentialJSON {
	return credentialJSON{AccessKeyID: c.AccessKey, SecretAccessKey: secret, ProjectID: c.ProjectID, ServiceID: c.ServiceID,
		Description: c.Description, Endpoint: a.s3Endpoint(), CreatedAt: stamp(c.Created)}
}

type serviceJSON struct {
	ID           string `json:"id"`
	ProjectID    string `json:"project_id"`
	Name         string `json:"name"`
	Region       string `json:"region"`
	Tier         string `json:"tier"`
	StorageLimit int64  `json:"storage_limit_bytes"`
	UsedBytes    int64  `json:"used_bytes"`
	Endpoint     string `json:"endpoint_url"`
	CreatedAt    string `json:"created_at"`
}

func (a *API) serviceOut(s objectstorage.Service, used int64) serviceJSON {
	return serviceJSON{ID: s.ID, ProjectID: s.ProjectID, Name: s.Name, Region: s.Region, Tier: s.Tier, StorageLimit: s.StorageLimit,
		UsedBytes: used, Endpoint: a.s3Endpoint(), CreatedAt: stamp(s.Created)}
}

func (a *API) listBuckets(w http.ResponseWriter, r *http.Request) error {
	bs, err := a.objects.Buckets(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[bucketJSON]{Items: []bucketJSON{}}
	for _, b := range bs {
		out.Items = append(out.Items, bucketOut(b))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) createBucket(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name      string `json:"name"`
		Tier      string `json:"tier"`
		Public    bool   `json:"public"`
		ServiceID string `json:"service_id"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	b, err := a.objects.CreateBucket(r.Context(), httpapi.Principal(r.Context()), objectstorage.BucketInput{
		ProjectID: r.PathValue("id"), Name: in.Name, Tier: in.Tier, Public: in.Public, ServiceID: in.ServiceID})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, bucketOut(b))
}

// projectBucket loads a bucket by name and checks it belongs to the
// project in the path, so a bucket is addressed under its own project only.
func (a *API) projectBucket(r *http.Request) (bucket.Bucket, error) {
	b, err := a.objects.Bucket(r.Context(), httpapi.Principal(r.Context()), r.PathValue("name"))
	if err == nil && b.ProjectID != r.PathValue("id") {
		return bucket.Bucket{}, errBucketNotFound(r.PathValue("name"))
	}
	return b, err
}

func (a *API) getBucket(w http.ResponseWriter, r *http.Request) error {
	b, err := a.projectBucket(r)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, bucketOut(b))
}

func (a *API) updateBucket(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Public *bool   `json:"public"`
		Tier   *string `json:"tier"`
	}
	if err := a.decode(r, &in); err != nil {
		return err
	}
	if _, err := a.projectBucket(r); err != nil {
		return err
	}
	b, err := a.objects.UpdateBucket(r.Context(), httpapi.Principal(r.Context()), r.PathValue("name"), objectstorage.BucketUpdate{Public: in.Public, Tier: in.Tier})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, bucketOut(b))
}

func (a *API) deleteBucket(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.projectBucket(r); err != nil {
		return err
	}
	if err := a.objects.DeleteBucket(r.Context(), httpapi.Principal(r.Context()), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.objects.Credentials(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[credentialJSON]{Items: []credentialJSON{}}
	for _, c := range cs {
		out.Items = append(out.Items, a.credentialOut(c, ""))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) createCredential(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Description string `json:"description"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &in); err != nil {
			return err
		}
	}
	c, secret, err := a.objects.CreateCredential(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), in.Description)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusCreated, a.credentialOut(c, secret))
}

func (a *API) revokeCredential(w http.ResponseWriter, r *http.Request) error {
	if err := a.objects.RevokeCredential(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"), r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listServices(w http.ResponseWriter, r *http.Request) error {
	p := httpapi.Principal(r.Context())
	ss, err := a.objects.ObjectStorages(r.Context(), p, r.URL.Query().Get("project_id"))
	if err != nil {
		return err
	}
	out := list[serviceJSON]{Items: []serviceJSON{}}
	for _, s := range ss {
		_, used, err := a.objects.ObjectStorage(r.Context(), p, s.ID)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, a.serviceOut(s, used))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}

func (a *API) getService(w http.ResponseWriter, r *http.Request) error {
	s, used, err := a.objects.ObjectStorage(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, a.serviceOut(s, used))
}

// serviceCredentials shows a service's keys with their secrets to the
// project's members (not its viewers); the order that made them had
// nobody to show them to.
func (a *API) serviceCredentials(w http.ResponseWriter, r *http.Request) error {
	cs, secrets, err := a.objects.ServiceCredentials(r.Context(), httpapi.Principal(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[credentialJSON]{Items: []credentialJSON{}}
	for i, c := range cs {
		out.Items = append(out.Items, a.credentialOut(c, secrets[i]))
	}
	return httpapi.WriteJSON(w, http.StatusOK, out)
}
