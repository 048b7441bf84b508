module values

go 1.22
