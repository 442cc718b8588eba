// Package isolation proves the tenant wall on every face at once: it starts
// a whole node, gives a victim project one of everything (volumes attached
// and not, snapshots and their exports, instances, tags, drive users, a
// drive being uploaded, buckets, objects, a multipart upload, S3 keys, an
// object-storage order, jobs), staff publish a library drive every tenant
// may read and clone, and then the test walks every route the node
// registered (Server.Routes) and every S3 operation in the S3 routing
// table (s3.Routes) as intruders from another organisation and from
// another project of the victim's own organisation. Each request must be refused in the dialect's way, no
// response may carry a byte of the victim's names or data, and the victim's
// state must be unchanged at the end. A route without a probe fails the
// test, so a new route cannot slip past.
//
// Inside a tenant, TestRoleMatrix does the same for roles: a team with
// someone in every role of docs/roles.md (and a project-bound token, a
// removed member, no credential) calls every route and every S3
// operation, and each answer must match the table, with no capability
// (S3 secret, export name, presigned URL) reaching a caller below member.
// The package holds only tests.
package isolation
