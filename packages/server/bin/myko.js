#!/usr/bin/env node
// The `myko` command. A committed file, so that `npm install` can link it into node_modules/.bin
// before `prepare` has compiled dist/ (a bin pointing into dist/ was not linked on a fresh clone).
import '../dist/cli.js';
