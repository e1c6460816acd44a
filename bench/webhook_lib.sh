# GitHub webhook deliveries for the benchmarks (webhook_bench.sh, push_latency_bench.sh).
# Source it after lib.sh.
#
#   webhook_push_payload FULL_NAME CLONE_URL REF BEFORE AFTER PUSHED_AT
#       prints a push payload shaped like GitHub's for a one-commit push (repository with
#       its URLs and counters, pusher, sender, commits[1], head_commit: about 7 kB, the size
#       of a real one); PUSHED_AT is repository.pushed_at in Unix seconds, as GitHub sends it
#   webhook_sign SECRET_FILE BODY_FILE
#       prints the X-Hub-Signature-256 value: "sha256=" + hex HMAC-SHA256 of the body's bytes
#   webhook_send URL SIGNATURE BODY_FILE DELIVERY_ID [EVENT]
#       POSTs one delivery to URL/webhooks/github (URL: http://HOST:PORT; default event
#       push) with the X-Hub-Signature-256 value SIGNATURE (from webhook_sign), as HTTP/1.0
#       from bash itself (no process started); sets WEBHOOK_STATUS (HTTP status, 000 when
#       the request failed) and WEBHOOK_BODY (the answer, newlines removed)

webhook_push_payload() {
  local full_name=$1 clone_url=$2 ref=$3 before=$4 after=$5 pushed_at=$6
  local owner=${full_name%%/*} name=${full_name#*/}
  local html_url=${clone_url%.git}
  local api=https://api.github.com/repos/$full_name
  local stamp
  stamp=$(date -u -d "@$pushed_at" +%Y-%m-%dT%H:%M:%SZ)
  cat <<EOF
{"ref":"$ref","before":"$before","after":"$after","repository":{"id":512345678,"node_id":"R_kgDOHoLbTg","name":"$name","full_name":"$full_name","private":false,"owner":{"name":"$owner","email":null,"login":"$owner","id":41234567,"node_id":"O_kgDOAnU2Bw","avatar_url":"https://avatars.githubusercontent.com/u/41234567?v=4","gravatar_id":"","url":"https://api.github.com/users/$owner","html_url":"https://github.com/$owner","followers_url":"https://api.github.com/users/$owner/followers","following_url":"https://api.github.com/users/$owner/following{/other_user}","gists_url":"https://api.github.com/users/$owner/gists{/gist_id}","starred_url":"https://api.github.com/users/$owner/starred{/owner}{/repo}","subscriptions_url":"https://api.github.com/users/$owner/subscriptions","organizations_url":"https://api.github.com/users/$owner/orgs","repos_url":"https://api.github.com/users/$owner/repos","events_url":"https://api.github.com/users/$owner/events{/privacy}","received_events_url":"https://api.github.com/users/$owner/received_events","type":"Organization","site_admin":false},"html_url":"$html_url","description":"Model weights and inference code","fork":false,"url":"$html_url","forks_url":"$api/forks","keys_url":"$api/keys{/key_id}","collaborators_url":"$api/collaborators{/collaborator}","teams_url":"$api/teams","hooks_url":"$api/hooks","issue_events_url":"$api/issues/events{/number}","events_url":"$api/events","assignees_url":"$api/assignees{/user}","branches_url":"$api/branches{/branch}","tags_url":"$api/tags","blobs_url":"$api/git/blobs{/sha}","git_tags_url":"$api/git/tags{/sha}","git_refs_url":"$api/git/refs{/sha}","trees_url":"$api/git/trees{/sha}","statuses_url":"$api/statuses/{sha}","languages_url":"$api/languages","stargazers_url":"$api/stargazers","contributors_url":"$api/contributors","subscribers_url":"$api/subscribers","subscription_url":"$api/subscription","commits_url":"$api/commits{/sha}","git_commits_url":"$api/git/commits{/sha}","comments_url":"$api/comments{/number}","issue_comment_url":"$api/issues/comments{/number}","contents_url":"$api/contents/{+path}","compare_url":"$api/compare/{base}...{head}","merges_url":"$api/merges","archive_url":"$api/{archive_format}{/ref}","downloads_url":"$api/downloads","issues_url":"$api/issues{/number}","pulls_url":"$api/pulls{/number}","milestones_url":"$api/milestones{/number}","notifications_url":"$api/notifications{?since,all,participating}","labels_url":"$api/labels{/name}","releases_url":"$api/releases{/id}","deployments_url":"$api/deployments","created_at":1656000000,"updated_at":"2024-05-02T09:12:44Z","pushed_at":$pushed_at,"git_url":"git://${html_url#*://}.git","ssh_url":"git@github.com:$full_name.git","clone_url":"$clone_url","svn_url":"$html_url","homepage":null,"size":48211,"stargazers_count":1873,"watchers_count":1873,"language":"Python","has_issues":true,"has_projects":true,"has_downloads":true,"has_wiki":false,"has_pages":false,"has_discussions":true,"forks_count":142,"mirror_url":null,"archived":false,"disabled":false,"open_issues_count":37,"license":{"key":"apache-2.0","name":"Apache License 2.0","spdx_id":"Apache-2.0","url":"https://api.github.com/licenses/apache-2.0","node_id":"MDc6TGljZW5zZTI="},"allow_forking":true,"is_template":false,"web_commit_signoff_required":false,"topics":["llm","inference","weights"],"visibility":"public","forks":142,"open_issues":37,"watchers":1873,"default_branch":"main","stargazers":1873,"master_branch":"main","organization":"$owner","custom_properties":{}},"pusher":{"name":"bench","email":"bench@localhost"},"organization":{"login":"$owner","id":41234567,"node_id":"O_kgDOAnU2Bw","url":"https://api.github.com/orgs/$owner","repos_url":"https://api.github.com/orgs/$owner/repos","events_url":"https://api.github.com/orgs/$owner/events","hooks_url":"https://api.github.com/orgs/$owner/hooks","issues_url":"https://api.github.com/orgs/$owner/issues","members_url":"https://api.github.com/orgs/$owner/members{/member}","public_members_url":"https://api.github.com/orgs/$owner/public_members{/member}","avatar_url":"https://avatars.githubusercontent.com/u/41234567?v=4","description":""},"sender":{"login":"bench","id":51234567,"node_id":"U_kgDOAw3vBw","avatar_url":"https://avatars.githubusercontent.com/u/51234567?v=4","gravatar_id":"","url":"https://api.github.com/users/bench","html_url":"https://github.com/bench","followers_url":"https://api.github.com/users/bench/followers","following_url":"https://api.github.com/users/bench/following{/other_user}","gists_url":"https://api.github.com/users/bench/gists{/gist_id}","starred_url":"https://api.github.com/users/bench/starred{/owner}{/repo}","subscriptions_url":"https://api.github.com/users/bench/subscriptions","organizations_url":"https://api.github.com/users/bench/orgs","repos_url":"https://api.github.com/users/bench/repos","events_url":"https://api.github.com/users/bench/events{/privacy}","received_events_url":"https://api.github.com/users/bench/received_events","type":"User","site_admin":false},"created":false,"deleted":false,"forced":false,"base_ref":null,"compare":"$html_url/compare/${before:0:12}...${after:0:12}","commits":[{"id":"$after","tree_id":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","distinct":true,"message":"Update inference settings","timestamp":"$stamp","url":"$html_url/commit/$after","author":{"name":"bench","email":"bench@localhost","username":"bench"},"committer":{"name":"bench","email":"bench@localhost","username":"bench"},"added":[],"removed":[],"modified":["config.json"]}],"head_commit":{"id":"$after","tree_id":"4b825dc642cb6eb9a060e54bf8d69288fbee4904","distinct":true,"message":"Update inference settings","timestamp":"$stamp","url":"$html_url/commit/$after","author":{"name":"bench","email":"bench@localhost","username":"bench"},"committer":{"name":"bench","email":"bench@localhost","username":"bench"},"added":[],"removed":[],"modified":["config.json"]}}
EOF
}

webhook_sign() {
  local secret
  secret=$(cat "$1") || return 1
  # A throwaway secret of the benchmark's own: passing it as an argument is fine here.
  openssl dgst -sha256 -hmac "$secret" -r "$2" | awk '{ print "sha256=" $1 }'
}

webhook_send() {
  local url=$1 sig=$2 body_file=$3 delivery=$4 event=${5:-push}
  local LC_ALL=C body="" hostport fd line status
  # Plain bash over /dev/tcp, no child process: the benchmarks time this call.
  IFS= read -r -d '' body <"$body_file"
  hostport=${url#http://}
  hostport=${hostport%%/*}
  WEBHOOK_STATUS=000 WEBHOOK_BODY=
  exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 0
  printf 'POST /webhooks/github HTTP/1.0\r\nHost: %s\r\nUser-Agent: GitHub-Hookshot/bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-GitHub-Event: %s\r\nX-GitHub-Delivery: %s\r\nX-Hub-Signature-256: %s\r\n\r\n%s' \
    "$hostport" "${#body}" "$event" "$delivery" "$sig" "$body" >&"$fd"
  if IFS= read -r -t 30 -u "$fd" line; then
    status=${line#HTTP/1.? }
    WEBHOOK_STATUS=${status%% *}
    while IFS= read -r -t 30 -u "$fd" line && [[ $line != $'\r' && -n $line ]]; do :; done
    while IFS= read -r -t 30 -u "$fd" line || [[ -n $line ]]; do
      WEBHOOK_BODY+=$line
    done
  fi
  exec {fd}<&-
}
