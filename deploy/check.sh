#!/usr/bin/env bash
# Proves a deployment works end to end: drops a small file into the bucket (under the prefix), waits for the
# function's answer on the object and prints it. Needs the AWS CLI and the deployer's credentials.
#
#   bash deploy/check.sh --region REGION --bucket BUCKET [--prefix PREFIX] [--target LARK_TARGET] [--timeout S]
#
# Without --target (a lark-target value, e.g. docx:doxcn…) the file goes to the deployment's default destination,
# or is refused with an error tag if there is none: either way the answer shows the function ran.
# Exit code: 0 uploaded (the token is printed), 1 refused (the lark-upload-error tag is printed), 2 no answer.
set -euo pipefail

usage() {
  sed -n '5p' "$0" | sed 's/^#   //' >&2
  exit 2
}
region="" bucket="" prefix="" target="" timeout=120
while [ $# -gt 0 ]; do
  case "$1" in
    --region) region="$2" ;;
    --bucket) bucket="$2" ;;
    --prefix) prefix="$2" ;;
    --target) target="$2" ;;
    --timeout) timeout="$2" ;;
    *) usage ;;
  esac
  shift 2 || usage
done
[ -n "$region" ] && [ -n "$bucket" ] || usage

key="${prefix}s3-to-lark-check-$(date -u +%Y%m%dT%H%M%SZ).txt"
body=$(mktemp)
trap 'rm -f "$body"' EXIT
echo "s3-to-lark check, $(date -u)" >"$body"
tagging=()
if [ -n "$target" ]; then tagging=(--tagging "lark-target=${target}"); fi

aws s3api put-object --region "$region" --bucket "$bucket" --key "$key" --body "$body" "${tagging[@]}" >/dev/null
echo "put s3://${bucket}/${key}; waiting up to ${timeout} s for the function's answer..."

deadline=$((SECONDS + timeout))
while [ $SECONDS -lt "$deadline" ]; do
  token=$(aws s3api head-object --region "$region" --bucket "$bucket" --key "$key" \
    --query 'Metadata."lark-file-token"' --output text)
  if [ -n "$token" ] && [ "$token" != "None" ]; then
    echo "uploaded: lark-file-token=${token}"
    exit 0
  fi
  refused=$(aws s3api get-object-tagging --region "$region" --bucket "$bucket" --key "$key" \
    --query "TagSet[?Key=='lark-upload-error'].Value | [0]" --output text)
  if [ -n "$refused" ] && [ "$refused" != "None" ]; then
    echo "refused: lark-upload-error=${refused}"
    exit 1
  fi
  sleep 3
done
echo "no answer after ${timeout} s: look at the function's log (docs/deploy.md, Logs and metrics)" >&2
exit 2
