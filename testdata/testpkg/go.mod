module testpkg

go 1.22
