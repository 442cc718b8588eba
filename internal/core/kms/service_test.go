package kms_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stowage/stowage/internal/core/identity"
	"github.com/stowage/stowage/internal/core/kms"
	"github.com/stowage/stowage/internal/errs"
	"github.com/stowage/stowage/internal/seal"
	"github.com/stowage/stowage/internal/store/sqlstore"
	"github.com/stowage/stowage/internal/testenv"
)

// TestKeyLifecycle runs the key service on the real store, SQLite and
// PostgreSQL: data keys open only with their context, a disabled key or
// one pending deletion refuses, a cancelled deletion keeps the key, and
// the destroyer removes a key only once its window has ended, after which
// nothing it wrapped opens again.
func TestKeyLifecycle(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
			if engine == "postgres" {
				dsn = testenv.FreshPostgres(t)
			}
			testKeyLifecycle(t, dsn)
		})
	}
}

func testKeyLifecycle(t *testing.T, dsn string) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ids, err := identity.NewService(st, identity.Options{JWTKey: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := ids.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staff, err := ids.AuthenticateToken(ctx, boot.Token)
	if err != nil {
		t.Fatal(err)
	}
	org, err := ids.CreateOrganisation(ctx, staff, "org", "")
	if err != nil {
		t.Fatal(err)
	}
	pa, err := ids.CreateProject(ctx, staff, org.ID, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := ids.CreateProject(ctx, staff, org.ID, "b", "")
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc := kms.NewService(st, ids, master, "local-1")
	svc.SetClock(func() time.Time { return now })

	k, err := svc.Create(ctx, staff, pa.ID, kms.CreateInput{Alias: "alias/app"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Material != "" {
		t.Fatal("Create returned the key's material")
	}
	if _, err := svc.Create(ctx, staff, pa.ID, kms.CreateInput{Alias: "app"}); !errs.Is(err, errs.Exist) {
		t.Fatalf("a second alias/app: %v", err)
	}
	if _, err := svc.Create(ctx, staff, pb.ID, kms.CreateInput{Alias: "app"}); err != nil {
		t.Fatalf("alias/app in another project: %v", err)
	}
	encCtx := map[string]string{"aws:s3:arn": "arn:aws:s3:::b/k"}
	dk, err := svc.GenerateDataKey(ctx, pa.ID, "alias/app", encCtx)
	if err != nil {
		t.Fatal(err)
	}
	if dk.KeyARN != svc.ARN(k) || len(dk.Plaintext) != 32 || bytes.Contains([]byte(dk.Ciphertext), dk.Plaintext) {
		t.Fatalf("data key %+v", dk)
	}
	open := func(c map[string]string) ([]byte, error) { return svc.Decrypt(ctx, pa.ID, dk.KeyARN, dk.Ciphertext, c) }
	if got, err := open(encCtx); err != nil || !bytes.Equal(got, dk.Plaintext) {
		t.Fatalf("decrypt: %v", err)
	}
	if _, err := open(map[string]string{"aws:s3:arn": "arn:aws:s3:::b/other"}); !errors.Is(err, kms.ErrInvalidCiphertext) {
		t.Fatalf("decrypt with another context: %v", err)
	}
	if _, err := svc.Decrypt(ctx, pb.ID, dk.KeyARN, dk.Ciphertext, encCtx); !errors.Is(err, kms.ErrAccessDenied) {
		t.Fatalf("decrypt by another project: %v", err)
	}
	if _, err := svc.GenerateDataKey(ctx, pb.ID, k.ID, encCtx); !errors.Is(err, kms.ErrNotFound) {
		t.Fatalf("another project's key by id: %v", err)
	}
	stored, err := st.GetKMSKey(ctx, pa.ID, k.ID)
	if err != nil || stored.Material == "" {
		t.Fatalf("stored key: %v %+v", err, stored)
	}

	if _, err := svc.Disable(ctx, staff, pa.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := open(encCtx); !errors.Is(err, kms.ErrDisabled) {
		t.Fatalf("decrypt under a disabled key: %v", err)
	}
	if _, err := svc.Enable(ctx, staff, pa.ID, "alias/app"); err != nil {
		t.Fatal(err)
	}
	for _, days := range []int{6, 31} {
		if _, err := svc.ScheduleDeletion(ctx, staff, pa.ID, k.ID, days); !errs.Is(err, errs.Invalid) {
			t.Fatalf("a %d-day window: %v", days, err)
		}
	}
	pend, err := svc.ScheduleDeletion(ctx, staff, pa.ID, k.ID, 7)
	if err != nil || pend.State != kms.PendingDeletion || !pend.DeletionDate.Equal(now.AddDate(0, 0, 7)) {
		t.Fatalf("schedule: %v %+v", err, pend)
	}
	if _, err := open(encCtx); !errors.Is(err, kms.ErrPendingDeletion) {
		t.Fatalf("decrypt pending deletion: %v", err)
	}
	if back, err := svc.CancelDeletion(ctx, staff, pa.ID, k.ID); err != nil || back.State != kms.Disabled || !back.DeletionDate.IsZero() {
		t.Fatalf("cancel: %v %+v", err, back)
	}
	if _, err := svc.CancelDeletion(ctx, staff, pa.ID, k.ID); !errs.Is(err, errs.Conflict) {
		t.Fatalf("cancel twice: %v", err)
	}
	now = now.AddDate(0, 0, 40)
	if n, err := svc.DestroyDue(ctx); err != nil || n != 0 {
		t.Fatalf("a cancelled deletion destroyed %d keys: %v", n, err)
	}
	if _, err := svc.ScheduleDeletion(ctx, staff, pa.ID, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	now = now.AddDate(0, 0, 7).Add(-time.Second)
	if n, err := svc.DestroyDue(ctx); err != nil || n != 0 {
		t.Fatalf("destroyed %d keys inside the window: %v", n, err)
	}
	now = now.Add(time.Second)
	if n, err := svc.DestroyDue(ctx); err != nil || n != 1 {
		t.Fatalf("destroyed %d keys at the end of the window: %v", n, err)
	}
	if _, err := open(encCtx); !errors.Is(err, kms.ErrNotFound) {
		t.Fatalf("decrypt after destruction: %v", err)
	}
	if ks, err := svc.Keys(ctx, staff, pa.ID); err != nil || len(ks) != 0 {
		t.Fatalf("keys after destruction: %v %v", ks, err)
	}
}
