module github.com/stowage/stowage

go 1.26.8

require (
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.28.0
)

require github.com/stretchr/testify v1.10.0 // indirect
