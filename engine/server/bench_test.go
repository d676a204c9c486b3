package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkHTTPCreate: validated single-record creates of the deal
// through the real HTTP server on a SQLite file, from parallel clients in
// the same process (-cpu sets their number with GOMAXPROCS; use
// -benchtime 5000x).
func BenchmarkHTTPCreate(b *testing.B) {
	e := start(b)
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"name":"Deal %d","amount":%d,"stage":"won","email":"b%d@example.com","close_date":"2030-01-02"}`, i, i%100000, i)
			req, _ := http.NewRequest("POST", e.base+"/api/v1/records/deal", bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.token)
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 201 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
