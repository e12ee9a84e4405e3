# A JobAdder format written in jq: the input is the HrFlow profile as HrFlow sends it, the
# output is the AddCandidateCommand posted to JobAdder. hrpush adds to_date, to_epoch_ms,
# truncate(n), compact and alpha2 (see the README).
#
# Fields longer than JobAdder accepts are cut (truncate), dates become ISO dates (to_date), and
# compact drops what is null or empty, so that JobAdder gets only what the profile has.
.info as $info
| ($info.location.fields | if type == "object" then . else {} end) as $place # [] when unknown
| {
    firstName: ($info.first_name | truncate(50)),
    lastName: ($info.last_name | truncate(50)),
    email: (if (($info.email // "") | length) <= 100 then $info.email else null end),
    phone: ($info.phone | truncate(50)),
    dateOfBirth: ($info.date_birth | to_date),
    summary: $info.summary,
    address: {
      city: $place.city,
      state: $place.state,
      postalCode: $place.postcode,
      countryCode: ($place.country | alpha2)
    },
    skillTags: ([.skills[]?.name | select(. != null and . != "")] | unique | .[:100]),
    education: [.educations[]? | {institution: .school, course: .title, date: (.date_end | to_date)}],
    employment: {
      history: [.experiences[]? | {
        employer: .company,
        position: .title,
        start: (.date_start | to_date),
        end: (if .date_end == null and .date_start != null then "Present" else (.date_end | to_date) end),
        description: .description
      }]
    },
    source: "HrFlow"
  }
| compact
