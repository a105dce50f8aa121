#!/bin/bash
cd /work
for w in wt-*; do
  n=${w#wt-}
  idx=/tmp/idx-$n
  rm -f $idx
  (cd $w && GIT_INDEX_FILE=$idx git read-tree HEAD && GIT_INDEX_FILE=$idx git add -A && GIT_INDEX_FILE=$idx git diff --cached --binary 747bd12 > /work/main/wip/$n.patch.tmp && mv /work/main/wip/$n.patch.tmp /work/main/wip/$n.patch)
  echo "$n: $(git -C $w log --oneline 747bd12.. | wc -l) commits, $(grep -c '^diff --git' /work/main/wip/$n.patch) files"
done
