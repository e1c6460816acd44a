#!/usr/bin/perl
# Deterministic synthetic history for the benchmarks, written as a `git fast-import` stream.
#
#   gen_history.pl base   [options]        the whole base history (main, branches, tags)
#   gen_history.pl incr K [options]        incremental step K (1, 2, ...) on top of the base
#                                          and of steps 1..K-1 (they are replayed, not emitted)
#
# Options (same values must be given to base and incr): --seed N --commits N --files N
# --bin-files N --bin-mb N --branches N --tag-every N --incr-commits N --incr-bin-mb N
#
# Same options => byte-identical stream (a seeded xorshift32 drives every choice; binary
# blobs are SHA-512 in counter mode keyed by their name, so they are incompressible and
# share nothing with each other). Text files are source-like and edited a few lines at a
# time, so they delta well, like real code. Binary files are named *.bin.
use strict;
use warnings;
use Digest::SHA qw(sha512);

my $mode = shift @ARGV // die "usage: gen_history.pl base|incr K [options]\n";
my $incr_step = 0;
if ($mode eq 'incr') { $incr_step = shift @ARGV // die "incr needs a step number\n"; }
elsif ($mode ne 'base') { die "unknown mode $mode\n"; }

my %o = (seed => 1, commits => 3000, files => 2000, 'bin-files' => 24, 'bin-mb' => 350,
         branches => 8, 'tag-every' => 100, 'incr-commits' => 50, 'incr-bin-mb' => 6);
while (@ARGV) {
  my $k = shift @ARGV;
  $k =~ s/^--// or die "bad option $k\n";
  exists $o{$k} or die "unknown option --$k\n";
  $o{$k} = shift @ARGV // die "--$k needs a value\n";
}

binmode STDOUT;
print "feature done\n";
my $x = (($o{seed} * 2654435761) ^ 0x9E3779B9) & 0xffffffff;
$x ||= 1;
sub rnd {
  $x ^= ($x << 13) & 0xffffffff;
  $x ^= $x >> 17;
  $x ^= ($x << 5) & 0xffffffff;
  return $x;
}
sub pick { return $_[rnd() % @_]; }

my @words = qw(weights bias layer tensor shard config model token embed attention head
  norm scale dropout optimizer step batch loader dataset split train eval infer cache
  buffer stream checkpoint restore save load param grad update schedule warmup decay
  hidden size vocab rotary window kv quant dtype device mesh rank world gather reduce
  fetch mirror ref pack index object tree blob commit sync verify hash digest);
my @types = qw(int float bool str list dict tuple Tensor Config Path bytes);

sub text_line {
  my $r = rnd() % 10;
  my $ind = '    ' x (rnd() % 3);
  my ($a, $b, $c) = (pick(@words), pick(@words), pick(@words));
  return '' if $r == 0;
  return "$ind# $a $b: $c " . pick(@words) . ' ' . pick(@words) . " (see $b.$c)" if $r == 1;
  return "${ind}def ${a}_$b(self, $c: " . pick(@types) . ') -> ' . pick(@types) . ':' if $r == 2;
  return "${ind}return self.${a}_$b($c, " . (rnd() % 4096) . ')' if $r == 3;
  return "$ind${a}_$b = $c.${b}_" . pick(@words) . '(' . (rnd() % 997) . ', ' .
         pick(@words) . '=' . sprintf('%.4f', (rnd() % 100000) / 100000) . ')' if $r <= 6;
  return "${ind}if $a.$b > " . (rnd() % 1000) . " and not $c:" if $r == 7;
  return "$ind\"${a}_$b\": " . (rnd() % 65536) . ',' if $r == 8;
  return "${ind}for $a in range(" . (rnd() % 128) . "): $b.append(" . $c . "[$a])";
}

my @exts = qw(py py py cc h md json yaml);
my $now = 1600000000;
my ($mark, $tick) = (0, 0);
my $emit = 0;
my @out;  # pending text for the current commit's blobs

# File state. Text: path => [lines]; binary: path => version number.
my %text;
my @main_text;   # text paths on main (insertion order, for deterministic picks)
my %bin_ver;
my $file_serial = 0;

sub new_text_path {
  my ($prefix) = @_;
  my $i = $file_serial++;
  my $ext = $exts[$i % @exts];
  return sprintf('%s/pkg%02d/sub%d/%s_%05d.%s', $prefix, rnd() % 20, rnd() % 10,
                 pick(@words), $i, $ext);
}

sub new_text_content {
  my $n = 30 + rnd() % 300;
  return [map { text_line() } 1 .. $n];
}

sub edit_text {
  my ($lines) = @_;
  my $ops = 1 + rnd() % 6;
  for (1 .. $ops) {
    my $r = rnd() % 4;
    my $i = rnd() % (@$lines + 1);
    if ($r == 0 && @$lines > 20) { splice(@$lines, $i, 1) if $i < @$lines; }
    elsif ($r == 1 || $i == @$lines) { splice(@$lines, $i, 0, text_line()); }
    else { $lines->[$i] = text_line(); }
  }
}

# Emits a blob (when emitting) and returns its mark ("" when not emitting).
sub blob {
  my ($data_ref) = @_;
  return '' unless $emit;
  my $m = ++$mark;
  print "blob\nmark :$m\ndata ", length($$data_ref), "\n", $$data_ref, "\n";
  return ":$m";
}

sub text_blob {
  my ($path) = @_;
  return '' unless $emit;
  my $s = join("\n", @{$text{$path}}) . "\n";
  return blob(\$s);
}

sub bin_blob {
  my ($path, $size) = @_;
  return '' unless $emit;
  my $key = "$o{seed}/$path/$bin_ver{$path}/";
  my $s = '';
  my $n = int(($size + 63) / 64);
  $s .= sha512($key . $_) for 0 .. $n - 1;
  substr($s, $size) = '';
  return blob(\$s);
}

my @authors = ('Ada Weights <ada@lab.invalid>', 'Bo Tensor <bo@lab.invalid>',
               'Cy Shard <cy@lab.invalid>', 'Di Cache <di@lab.invalid>');

# Emits one commit. $changes: list of ["M", mark, path] / ["D", path].
sub commit {
  my (%c) = @_;
  $tick++;
  return '' unless $emit;
  my $m = ++$mark;
  my $who = $authors[$tick % @authors];
  my $t = $now + $tick * 613;
  my $msg = $c{msg} . "\n";
  print "commit $c{ref}\nmark :$m\nauthor $who $t +0000\ncommitter $who $t +0000\n",
        "data ", length($msg), "\n$msg";
  print "from $c{from}\n" if $c{from};
  print "merge $c{merge}\n" if $c{merge};
  for my $ch (@{$c{changes}}) {
    if ($ch->[0] eq 'M') { print "M 100644 $ch->[1] $ch->[2]\n"; }
    else { print "D $ch->[1]\n"; }
  }
  print "\n";
  return ":$m";
}

sub tag {
  my ($name, $from) = @_;
  return unless $emit;
  my $t = $now + $tick * 613;
  my $msg = "release $name\n";
  print "tag $name\nfrom $from\ntagger $authors[0] $t +0000\ndata ", length($msg), "\n$msg\n";
}

# One ordinary main-line commit: a few text edits, sometimes an added or deleted file.
sub main_work {
  my @ch;
  my %seen;
  my $edits = 1 + rnd() % 5;
  for (1 .. $edits) {
    my $p = $main_text[rnd() % @main_text];
    next if $seen{$p}++;
    edit_text($text{$p});
    push @ch, ['M', undef, $p];
  }
  if (rnd() % 20 == 0) {
    my $p = new_text_path('src');
    $text{$p} = new_text_content();
    push @main_text, $p;
    push @ch, ['M', undef, $p];
  }
  if (rnd() % 100 == 0 && @main_text > 100) {
    my $i = rnd() % @main_text;
    my $p = $main_text[$i];
    unless ($seen{$p}) {
      splice(@main_text, $i, 1);
      delete $text{$p};
      push @ch, ['D', $p];
    }
  }
  return @ch;
}

sub bin_update {
  my ($slot_count, $max_mb) = @_;
  my $slot = rnd() % $slot_count;
  my $p = sprintf('weights/shard-%03d.bin', $slot);
  $bin_ver{$p}++;
  my $size = 1048576 + rnd() % (($max_mb - 1) * 1048576);
  return ['B', $p, $size];
}

# Turns pending change descriptions into blobs (text content is taken now) and marks.
sub materialise {
  my @res;
  for my $ch (@_) {
    if ($ch->[0] eq 'D') { push @res, $ch; }
    elsif ($ch->[0] eq 'B') { push @res, ['M', bin_blob($ch->[1], $ch->[2]), $ch->[1]]; }
    else { push @res, ['M', text_blob($ch->[2]), $ch->[2]]; }
  }
  return \@res;
}

# ---- base history ----
$emit = ($mode eq 'base');
my $N = $o{commits};
my $avg_bin = (1 + 8) / 2;                     # MB, sizes are uniform in [1, 8)
my $bin_updates = int($o{'bin-mb'} / $avg_bin + 0.5);
my %bin_at;
$bin_at{int(($_ + 0.5) * $N / $bin_updates)}++ for 0 .. $bin_updates - 1;
my $nb = $o{branches};
my (%fork_at, %merge_at);
for my $b (0 .. $nb - 1) {
  my $f = int(($b + 1) * $N / ($nb + 2));
  $fork_at{$f} = $b;
  $merge_at{$f + 40} = $b if $b % 2 == 0;     # even branches get merged back
}
my (%btip, %bfiles, %bactive);

# Initial import: all text files.
my $main_tip;
{
  my @ch;
  for (1 .. $o{files}) {
    my $p = new_text_path('src');
    $text{$p} = new_text_content();
    push @main_text, $p;
    push @ch, ['M', undef, $p];
  }
  push @ch, ['M', undef, 'README.md'];
  $text{'README.md'} = ['# synthetic model repository', '', map { text_line() } 1 .. 40];
  push @main_text, 'README.md';
  $main_tip = commit(ref => 'refs/heads/main', msg => 'initial import',
                         changes => materialise(@ch));
}
for my $s (1 .. $N) {
  my @ch = main_work();
  push @ch, bin_update($o{'bin-files'}, 8) for 1 .. ($bin_at{$s} // 0);
  if (defined(my $b = $merge_at{$s})) {
    # Merge: bring the branch's files into main.
    my @mch = map { ['M', $bfiles{$b}{$_}, $_] } sort keys %{$bfiles{$b}};
    push @main_text, sort keys %{$bfiles{$b}};
    delete $bactive{$b};
    $main_tip = commit(ref => 'refs/heads/main', msg => "merge exp-$b", from => $main_tip,
                       merge => $btip{$b}, changes => \@mch);
  }
  $main_tip = commit(ref => 'refs/heads/main', msg => "main: step $s", from => $main_tip,
                     changes => materialise(@ch));
  tag(sprintf('v1.%d', $s / $o{'tag-every'}), $main_tip) if $s % $o{'tag-every'} == 0;
  if (defined(my $b = $fork_at{$s})) {
    $btip{$b} = $main_tip;
    $bactive{$b} = 0;
    $bfiles{$b} = {};
  }
  for my $b (sort { $a <=> $b } keys %bactive) {
    next if rnd() % 2;
    next if $bactive{$b} >= ($b % 2 == 0 ? 30 : 300);
    $bactive{$b}++;
    my @bch;
    my $p = sprintf('experiments/exp-%d/run_%03d.py', $b, $bactive{$b});
    $text{$p} = new_text_content();
    my $mk = text_blob($p);
    $bfiles{$b}{$p} = $mk;
    push @bch, ['M', $mk, $p];
    $btip{$b} = commit(ref => "refs/heads/exp-$b", msg => "exp-$b: run $bactive{$b}",
                       from => $btip{$b}, changes => \@bch);
  }
}

# ---- incremental steps ----
for my $k (1 .. $incr_step) {
  $emit = ($k == $incr_step);
  $mark = 0;
  my $tip = 'refs/heads/main^0';
  my $ib = $o{'incr-bin-mb'};
  for my $s (1 .. $o{'incr-commits'}) {
    my @ch = main_work();
    push @ch, bin_update($o{'bin-files'}, $ib + 1) if $s == 1 && $ib > 0;
    $tip = commit(ref => 'refs/heads/main', msg => "main: incremental $k.$s", from => $tip,
                  changes => materialise(@ch));
  }
  tag("incr-$k", $tip);
  my $btip = 'refs/heads/exp-1^0';
  for my $s (1 .. 5) {
    my $p = sprintf('experiments/exp-1/incr_%d_%d.py', $k, $s);
    $text{$p} = new_text_content();
    $btip = commit(ref => 'refs/heads/exp-1', msg => "exp-1: incremental $k.$s", from => $btip,
                   changes => [['M', text_blob($p), $p]]);
  }
}
print "done\n" if $emit;
