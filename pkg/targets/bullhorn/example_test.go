package bullhorn_test

import (
	"encoding/json"
	"fmt"

	"github.com/hrpush/hrpush/pkg/hrflow"
	"github.com/hrpush/hrpush/pkg/targets/bullhorn"
)

// The search that finds the candidates with an email, escaped for Lucene.
func ExampleEmailQuery() {
	fmt.Println(bullhorn.EmailQuery("harry+potter@hogwarts.example"))
	// Output:
	// (email:harry\+potter@hogwarts.example OR email2:harry\+potter@hogwarts.example OR email3:harry\+potter@hogwarts.example) AND isDeleted:0
}

// Format's payload: the Candidate with its rows in the reserved members educations and
// workHistories, dates in epoch milliseconds.
func ExampleFormat() {
	p := &hrflow.Profile{
		Info: hrflow.Info{FullName: "Harry Potter", Email: "harry@hogwarts.example", DateBirth: hrflow.ParseTime("1980-07-31")},
		Experiences: []hrflow.Experience{
			{Key: "exp1", Company: "Ministry of Magic", Title: "Auror", DateStart: hrflow.ParseTime("2005-09-01")},
		},
	}
	b, _ := json.MarshalIndent(bullhorn.Format(p), "", "  ")
	fmt.Println(string(b))
	// Output:
	// {
	//   "dateOfBirth": 333849600000,
	//   "email": "harry@hogwarts.example",
	//   "firstName": "Harry",
	//   "lastName": "Potter",
	//   "name": "Harry Potter",
	//   "source": "HrFlow",
	//   "workHistories": [
	//     {
	//       "companyName": "Ministry of Magic",
	//       "isLastJob": true,
	//       "key": "exp1",
	//       "startDate": 1125532800000,
	//       "title": "Auror"
	//     }
	//   ]
	// }
}
