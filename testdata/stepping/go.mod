module stepping

go 1.22
