function hha_driver(gupta, jobs)
% hha_driver(gupta, jobs): the kit's driver of Gupta's HHA code under GNU Octave (tests/octave/gupta.py).
%   gupta: a folder holding clones of s-gupta/rcnn-depth, s-gupta/rgbdutils and s-gupta/nyu-hooks, run as
%          published (nothing of them is changed or copied).
%   jobs:  a text file, one job a line: depth PNG, raw depth PNG, output PNG, separated by tabs.
% For each job: saveHHA([], cropCamera(getCameraParam('color')), [], D, RD) with D and RD read by imread, as
% rcnn-depth's run_all.m calls it, the result written with imwrite; prints the output path, the seconds saveHHA
% took and the CPU seconds it used, tab-separated.
  pkg load image  % ordfilt2, which computeNormalsSquareSupport calls
  addpath(fullfile(gupta, 'rgbdutils'));
  addpath(fullfile(gupta, 'nyu-hooks'));
  addpath(fullfile(gupta, 'rcnn-depth', 'rcnn'));
  addpath(fullfile(gupta, 'rcnn-depth', 'mcg', 'depth_features'));
  C = cropCamera(getCameraParam('color'));
  fid = fopen(jobs, 'r');
  if fid < 0
    error('hha_driver: cannot open the job list %s', jobs);
  end
  line = fgetl(fid);
  while ischar(line)
    job = strsplit(line, "\t");
    D = imread(job{1});
    RD = imread(job{2});
    started = tic;
    cpu = cputime();
    HHA = saveHHA([], C, [], D, RD);
    cpu = cputime() - cpu;
    seconds = toc(started);
    imwrite(HHA, job{3});
    printf("%s\t%.4f\t%.4f\n", job{3}, seconds, cpu);
    line = fgetl(fid);
  end
  fclose(fid);
end
