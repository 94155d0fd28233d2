#!/usr/bin/env -S npx tsx
// CDK app entry (`cdk.json` runs it): `npx cdk synth -c app=spa-ecs -c env=prod -c account=... -c region=...`.
import { buildApp } from '../lib/app';

buildApp().app.synth();
