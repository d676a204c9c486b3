package server_test

import (
	"strings"
	"testing"
)

type timelinePage struct {
	Items []struct {
		Kind, ID, Actor, Action string
		ActorName               string `json:"actor_name"`
		Record                  map[string]any
		Changes                 map[string]any
	}
	NextBefore *string `json:"next_before"`
}

// TestActivities: notes, tasks and logged calls hang on a record and follow
// its rights; the timeline merges them with the record's audited changes,
// newest first, hiding what the reader may not see, and pages by entry id;
// a task's assignee finds it among their open tasks and closes it.
func TestActivities(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			admin, rep1, rep2, ro := o.admin, o.users["rep1"], o.users["rep2"], o.users["ro"]
			A, B := o.recs["A"], o.recs["B"]
			on := func(id, kind string) string { return "/api/v1/records/deal/" + id + "/activities/" + kind }

			var note, task, call map[string]any
			rep1.do("POST", on(A, "note"), map[string]any{"body": "Called <b>Ann</b>; <img src=x onerror=alert(1)>"}, 201, &note)
			if note["parent_entity"] != "deal" || note["parent_id"] != A || note["owner"] != o.ids["rep1"] {
				t.Fatalf("note: %v", note)
			}
			rep1.do("PATCH", "/api/v1/records/deal/"+A, map[string]any{"stage": "won", "margin": nil}, 422, nil) // margin is hidden from the rep
			rep1.do("PATCH", "/api/v1/records/deal/"+A, map[string]any{"stage": "won"}, 200, nil)
			rep1.do("POST", on(A, "task"), map[string]any{"title": "Send the quote", "due_date": "2030-01-15", "assignee": o.ids["rep2"]}, 201, &task)
			rep1.do("POST", on(A, "activity"), map[string]any{"kind": "call", "subject": "Intro call"}, 201, &call)
			if call["at"] == nil {
				t.Fatalf("a logged call without a time: %v", call)
			}
			// Not on a record the rep may not change, nor naming a parent.
			rep1.do("POST", on(B, "note"), map[string]any{"body": "x"}, 404, nil)
			ro.do("POST", on(A, "note"), map[string]any{"body": "x"}, 403, nil)
			r := rep1.raw("POST", on(A, "note"), map[string]any{"body": "x", "parent_id": B})
			if r.Status != 422 || problemFields(t, r)["parent_id"] != "read_only" {
				t.Fatalf("a note naming its parent: %d %s", r.Status, r.Body)
			}
			rep1.do("POST", on(A, "memo"), map[string]any{"body": "x"}, 404, nil)

			var page timelinePage
			rep1.do("GET", "/api/v1/records/deal/"+A+"/timeline", nil, 200, &page)
			var kinds []string
			for _, it := range page.Items {
				kinds = append(kinds, it.Kind+":"+it.Action)
				if it.ActorName == "" {
					t.Errorf("entry %s has no actor name", it.ID)
				}
				if _, ok := it.Changes["margin"]; ok {
					t.Errorf("the rep's timeline shows margin: %v", it.Changes)
				}
			}
			if got := strings.Join(kinds, " "); got != "activity: task: change:record.update note: change:record.create" {
				t.Fatalf("rep1's timeline: %s", got)
			}
			if page.Items[4].Changes["name"] == nil || page.Items[3].Record["body"] != note["body"] {
				t.Fatalf("timeline entries: %+v", page.Items)
			}
			admin.do("GET", "/api/v1/records/deal/"+A+"/timeline", nil, 200, &page)
			if page.Items[4].Changes["margin"] == nil {
				t.Fatalf("the admin's timeline lacks margin: %v", page.Items[4].Changes)
			}
			// Paging: two at a time, no entry twice, none lost.
			seen := map[string]bool{}
			before := ""
			for pages := 0; ; pages++ {
				q := "/api/v1/records/deal/" + A + "/timeline?limit=2"
				if before != "" {
					q += "&before=" + before
				}
				rep1.do("GET", q, nil, 200, &page)
				for _, it := range page.Items {
					if seen[it.ID] {
						t.Fatalf("entry %s on two pages", it.ID)
					}
					seen[it.ID] = true
				}
				if page.NextBefore == nil {
					break
				}
				before = *page.NextBefore
				if pages > 5 {
					t.Fatal("the timeline pages on for ever")
				}
			}
			if len(seen) != 5 {
				t.Fatalf("paged timeline: %d entries, want 5", len(seen))
			}
			ro.do("GET", "/api/v1/records/deal/"+A+"/timeline", nil, 200, nil)
			rep2.do("GET", "/api/v1/records/deal/"+A+"/timeline", nil, 404, nil)
			rep1.do("GET", "/api/v1/records/deal/"+A+"/timeline?before=nope", nil, 400, nil)

			// rep2 may not see deal A, but the task assigned to them.
			var mine struct{ Items []map[string]any }
			rep2.do("GET", "/api/v1/tasks/mine", nil, 200, &mine)
			if len(mine.Items) != 1 || mine.Items[0]["title"] != "Send the quote" {
				t.Fatalf("rep2's open tasks: %v", mine.Items)
			}
			taskPath := "/api/v1/activities/task/" + task["id"].(string)
			rep2.do("GET", taskPath, nil, 200, nil)
			rep2.do("PATCH", taskPath, map[string]any{"done": true}, 200, nil)
			rep2.do("GET", "/api/v1/tasks/mine", nil, 200, &mine)
			if len(mine.Items) != 0 {
				t.Fatalf("a done task is still open: %v", mine.Items)
			}
			rep2.do("DELETE", taskPath, nil, 404, nil)
			rep2.do("GET", "/api/v1/activities/note/"+note["id"].(string), nil, 404, nil)
			ro.do("DELETE", "/api/v1/activities/note/"+note["id"].(string), nil, 404, nil)
			rep1.do("DELETE", "/api/v1/activities/note/"+note["id"].(string), nil, 204, nil)
		})
	}
}
