module github.com/vigilhealth/vigil

go 1.26
