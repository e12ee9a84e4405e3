package bullhorntest

import (
	"sort"
	"strconv"
)

// Entity types the fake stores.
const (
	EntityCandidate     = "Candidate"
	EntityEducation     = "CandidateEducation"
	EntityWorkHistory   = "CandidateWorkHistory"
	entityFile          = "EntityFileAttachment" // files, as the fileAttachments association reports them
	maxNestedToManyRows = 5                      // rows of a to-many association nested in fields (UNCONFIRMED)
)

// kind is a field's type, as Bullhorn's entity reference lists it.
type kind int

const (
	kString    kind = iota // String(max); max 0 is a text column with no practical limit
	kInt                   // Integer: a JSON integer
	kNumber                // Double or BigDecimal: any JSON number
	kBool                  // Boolean: JSON true or false
	kTimestamp             // Timestamp: epoch milliseconds as a JSON integer, never a string
	kAddress               // the Address composite
	kToOne                 // to-one association: {"id": N}
	kToMany                // to-many association: cannot be set in a create or update body
)

func (k kind) String() string {
	return [...]string{"String", "Integer", "Double", "Boolean", "Timestamp", "Address", "To-one association", "To-many association"}[k]
}

// fieldSpec describes one field of an entity.
type fieldSpec struct {
	kind     kind
	max      int    // kString: maximum length in UTF-16 code units (Java's String.length); 0: text
	readOnly bool   // refused in create and update bodies
	notNull  bool   // refused as null
	target   string // kToOne, kToMany: the associated entity type
}

// schema is an entity type's whitelist of fields.
type schema struct {
	name     string
	fields   map[string]fieldSpec
	required []string       // fields a create must carry
	defaults map[string]any // values a create without them gets
}

func str(n int) fieldSpec { return fieldSpec{kind: kString, max: n} }

var (
	text  = fieldSpec{kind: kString}    //nolint:gochecknoglobals // constant
	ts    = fieldSpec{kind: kTimestamp} //nolint:gochecknoglobals // constant
	num   = fieldSpec{kind: kNumber}    //nolint:gochecknoglobals // constant
	integ = fieldSpec{kind: kInt}       //nolint:gochecknoglobals // constant
	boo   = fieldSpec{kind: kBool}      //nolint:gochecknoglobals // constant
	addr  = fieldSpec{kind: kAddress}   //nolint:gochecknoglobals // constant
)

func toOne(target string) fieldSpec  { return fieldSpec{kind: kToOne, target: target} }
func toMany(target string) fieldSpec { return fieldSpec{kind: kToMany, target: target} }

// addressFields are the Address composite's fields. countryName is accepted because the
// official Java SDK sends it.
var addressFields = map[string]fieldSpec{ //nolint:gochecknoglobals // constant table
	"address1": str(100), "address2": str(100), "city": str(40), "state": str(50), "zip": str(15),
	"countryID": integ, "countryName": str(100),
}

// schemas are the entity types the fake stores, with the fields each accepts. Lengths come from
// Bullhorn's entity reference (rest-api-docs entityref) and the official Java SDK's @Size.
var schemas = buildSchemas() //nolint:gochecknoglobals // constant table, built once

func buildSchemas() map[string]*schema {
	common := func(m map[string]fieldSpec, customText, customTextBlock int, nText, nBlock, nDate, nInt, nFloat int) {
		m["id"] = fieldSpec{kind: kInt, readOnly: true}
		m["dateAdded"] = fieldSpec{kind: kTimestamp, readOnly: true}
		m["dateLastModified"] = fieldSpec{kind: kTimestamp, readOnly: true}
		m["isDeleted"] = fieldSpec{kind: kBool, notNull: true}
		for i := 1; i <= nText; i++ {
			m["customText"+strconv.Itoa(i)] = str(customText)
		}
		for i := 1; i <= nBlock; i++ {
			m["customTextBlock"+strconv.Itoa(i)] = str(customTextBlock)
		}
		for i := 1; i <= nDate; i++ {
			m["customDate"+strconv.Itoa(i)] = ts
		}
		for i := 1; i <= nInt; i++ {
			m["customInt"+strconv.Itoa(i)] = integ
		}
		for i := 1; i <= nFloat; i++ {
			m["customFloat"+strconv.Itoa(i)] = num
		}
	}

	candidate := map[string]fieldSpec{
		"firstName": {kind: kString, max: 50, notNull: true}, "lastName": {kind: kString, max: 50, notNull: true},
		"middleName": str(50), "nickName": str(50), "namePrefix": str(5), "nameSuffix": str(5),
		"name":  {kind: kString, max: 100, notNull: true}, // length UNCONFIRMED (the reference says String)
		"email": str(100), "email2": str(100), "email3": str(100),
		"phone": str(20), "phone2": str(20), "phone3": str(20), "mobile": str(20), "workPhone": str(20),
		"fax": str(20), "fax2": str(20), "fax3": str(20), "pager": str(20),
		"occupation":  str(50), // the entity reference and the SDK say 50 (APIS.md says 100)
		"companyName": str(100), "companyURL": str(100),
		"status": {kind: kString, max: 100, notNull: true},
		"source": str(200), "externalID": str(50), "type": str(100), "employeeType": str(30),
		"employmentPreference": str(200), "preferredContact": str(15), "referredBy": str(50),
		"gender": str(1), "disability": str(1), "veteran": str(1), "ethnicity": str(50),
		"ssn": str(18), "taxID": str(18), "taxState": str(30), "travelMethod": str(100), "username": str(100),
		"skillSet": text, "description": text, "comments": text, "certifications": text, "degreeList": text,
		"desiredLocations": text, "educationDegree": text, "recentClientList": text,
		"dateOfBirth": ts, "dateAvailable": ts, "dateAvailableEnd": ts, "dateNextCall": ts, "dateI9Expiration": ts,
		"dateLastComment": {kind: kTimestamp, readOnly: true},
		"experience":      integ, "travelLimit": integ, "timeZoneOffsetEST": integ,
		"salary": num, "salaryLow": num, "hourlyRate": num, "hourlyRateLow": num, "dayRate": num, "dayRateLow": num,
		"willRelocate": boo, "workAuthorized": boo, "massMailOptOut": boo, "smsOptIn": boo, "isEditable": boo,
		"address": addr, "secondaryAddress": addr,
		"owner": toOne("CorporateUser"), "category": toOne("Category"), "referredByPerson": toOne("Person"),
		"branch":     toOne("Branch"),
		"educations": toMany(EntityEducation), "workHistories": toMany(EntityWorkHistory), "fileAttachments": toMany(entityFile),
		"primarySkills": toMany("Skill"), "secondarySkills": toMany("Skill"), "categories": toMany("Category"),
		"specialties": toMany("Specialty"), "businessSectors": toMany("BusinessSector"), "placements": toMany("Placement"),
		"submissions": toMany("JobSubmission"), "webResponses": toMany("JobSubmission"), "sendouts": toMany("Sendout"),
		"interviews": toMany("Appointment"), "tasks": toMany("Task"), "notes": toMany("Note"), "references": toMany("CandidateReference"),
		"secondaryOwners": toMany("CorporateUser"), "leads": toMany("Lead"), "tearsheets": toMany("Tearsheet"),
	}
	common(candidate, 100, 0, 60, 10, 13, 23, 23)

	education := map[string]fieldSpec{
		"candidate": toOne(EntityCandidate),
		"school":    str(100), "degree": str(100), "major": str(100), "certification": str(100),
		"city": str(40), "state": str(50), "comments": text, "gpa": num,
		"startDate": ts, "endDate": ts, "graduationDate": ts, "expirationDate": ts,
	}
	common(education, 500, 255, 5, 3, 5, 5, 5)

	work := map[string]fieldSpec{
		"candidate": toOne(EntityCandidate),
		"title":     str(50), "companyName": str(100), "comments": text, "terminationReason": str(100),
		"startDate": ts, "endDate": ts, "isLastJob": {kind: kBool, notNull: true},
		"salary1": num, "salary2": num, "salaryType": str(20), "bonus": num, "commission": num,
		"clientCorporation": toOne("ClientCorporation"), "jobOrder": toOne("JobOrder"), "placement": toOne("Placement"),
	}
	common(work, 100, 0, 5, 3, 5, 5, 5)

	return map[string]*schema{
		EntityCandidate: {name: EntityCandidate, fields: candidate, defaults: map[string]any{"isDeleted": false}},
		EntityEducation: {name: EntityEducation, fields: education, required: []string{"candidate"}, defaults: map[string]any{"isDeleted": false}},
		EntityWorkHistory: {
			name: EntityWorkHistory, fields: work, required: []string{"candidate"},
			defaults: map[string]any{"isDeleted": false, "isLastJob": false}, // isLastJob's default is UNCONFIRMED
		},
	}
}

// fileFields are the fields of PUT /file/{entity}/{id} (base64 upload).
var fileFields = map[string]fieldSpec{ //nolint:gochecknoglobals // constant table
	"externalID": text, "fileContent": text, "fileType": text, "name": text,
	"fileExtension": text, "contentType": text, "description": text, "type": text, // lengths unknown: not checked
}

// fileRequired are the fields the upload must carry.
var fileRequired = []string{"externalID", "fileContent", "fileType", "name"} //nolint:gochecknoglobals // constant list

// fileAttachmentFields are the fields the fileAttachments association returns.
var fileAttachmentFields = map[string]kind{ //nolint:gochecknoglobals // constant table
	"id": kInt, "name": kString, "type": kString, "contentType": kString, "contentSubType": kString,
	"description": kString, "externalID": kString, "fileExtension": kString, "fileSize": kInt,
	"fileType": kString, "dateAdded": kTimestamp, "isDeleted": kBool, "isPrivate": kBool, "distribution": kString,
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
